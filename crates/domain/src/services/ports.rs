use std::sync::Arc;

use crate::ports::{
    Clock, LoginThrottleRepository, PasswordHasher, SessionRepository, TokenCodec, UserRepository,
};

/// The adapters a service runs on. Swapping storage is swapping these three repositories.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub throttle: Arc<dyn LoginThrottleRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenCodec>,
    pub clock: Arc<dyn Clock>,
}

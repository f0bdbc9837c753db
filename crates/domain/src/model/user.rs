use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::input::{DisplayName, Email, Password, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An account. `password_hash` never leaves the service: the HTTP layer has its own view of a user.
#[derive(Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// Stored lower-cased.
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub password_hash: String,
    /// Set by storage from the account's login throttle (see `ThrottleKey::Account`).
    pub locked_until: Option<DateTime<Utc>>,
    /// Whether a confirmed second factor guards its logins (kept by storage with the factor).
    pub mfa_enabled: bool,
    /// Whether the owner proved they read mail at `email` (a link from it was used).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

// Hand-written so that the hash can never reach a log line through `{:?}`.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// What a client submits to create an account; judged whole with `validated`.
#[derive(Debug, Clone, garde::Validate)]
pub struct NewUser {
    #[garde(dive)]
    pub username: Username,
    #[garde(dive)]
    pub email: Email,
    #[garde(dive)]
    pub password: Password,
    #[garde(dive)]
    pub name: Option<DisplayName>,
}

/// A change to an account; `None` leaves a field as it is. `name: Some(None)` clears the name.
#[derive(Debug, Clone, Default, PartialEq, garde::Validate)]
pub struct UserPatch {
    #[garde(dive)]
    pub username: Option<Username>,
    #[garde(dive)]
    pub email: Option<Email>,
    #[garde(dive)]
    pub name: Option<Option<DisplayName>>,
    #[garde(skip)]
    pub role: Option<Role>,
    #[garde(skip)]
    pub is_active: Option<bool>,
    /// Set by the service, never by a client: a new address is unverified.
    #[garde(skip)]
    pub email_verified: Option<bool>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

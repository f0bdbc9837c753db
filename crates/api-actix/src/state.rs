use domain::{AuthService, UserService};

/// What every handler shares: the domain's services, built once at start.
pub struct AppState {
    pub auth: AuthService,
    pub users: UserService,
}

mod auth;
mod ports;
mod users;

#[cfg(test)]
mod test_support;

pub use auth::AuthService;
pub use ports::Ports;
pub use users::UserService;

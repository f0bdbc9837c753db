mod audit;
mod session;
mod token;
mod user;

pub use audit::{AuditEvent, AuditOutcome, AuditRecord};
pub use session::{ClientInfo, Session};
pub use token::{Claims, IssuedTokens, Principal, TokenType};
pub use user::{NewUser, Page, Role, User, UserPatch};

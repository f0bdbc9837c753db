use diesel::result::{DatabaseErrorKind, Error};
use domain::StoreError;

/// Translates diesel's failures into the port's. Messages are for logs only.
pub fn store_error(err: Error) -> StoreError {
    match err {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Conflict,
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
            StoreError::Unavailable(info.message().to_owned())
        }
        Error::DatabaseError(_, info) => StoreError::Other(info.message().to_owned()),
        other => StoreError::Other(other.to_string()),
    }
}

pub fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("stored {what} is not valid: {value:?}"))
}

//! What users submit, as types: each field is normalised when it is made (so that no path can
//! skip it) and carries its rules as garde attributes (so that they are declared once, here).
//! A command is judged whole with `validated`, which reports every broken rule at once.

use std::fmt;

use garde::Validate;

use crate::validation::rules;

/// `3–32` characters of `[A-Za-z0-9_]`, as typed (uniqueness ignores case).
#[derive(Debug, Clone, PartialEq, Eq, Validate)]
#[garde(transparent)]
pub struct Username(
    #[garde(custom(rules::username_length), custom(rules::username_charset))] String,
);

/// A valid address of at most 254 characters, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Validate)]
#[garde(transparent)]
pub struct Email(#[garde(custom(rules::email))] String);

/// `8–72` bytes of UTF-8 with a letter and a digit. Never printed.
#[derive(Clone, PartialEq, Eq, Validate)]
#[garde(transparent)]
pub struct Password(
    #[garde(
        custom(rules::password_length),
        custom(rules::password_letter),
        custom(rules::password_digit)
    )]
    String,
);

/// At most 100 characters, none of them hidden (control, format or separator characters).
#[derive(Debug, Clone, PartialEq, Eq, Validate)]
#[garde(transparent)]
pub struct DisplayName(#[garde(custom(rules::name_length), custom(rules::name_visible))] String);

macro_rules! text_newtype {
    ($name:ident, |$raw:ident| $normalise:expr) => {
        impl From<String> for $name {
            fn from($raw: String) -> Self {
                Self($normalise)
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self::from(raw.to_owned())
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_newtype!(Username, |raw| raw);
text_newtype!(Email, |raw| raw.trim().to_lowercase());
text_newtype!(Password, |raw| raw);
text_newtype!(DisplayName, |raw| raw);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

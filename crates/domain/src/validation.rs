//! The contract's rules for what users may submit. Each check reports every problem it finds, one
//! `FieldError` each, so that a client can fix a form in one round trip.

use std::fmt;

use serde::Serialize;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }
}

pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 32;
pub const EMAIL_MAX_CHARS: usize = 254;
pub const PASSWORD_MIN_BYTES: usize = 8;
/// bcrypt reads no further: a longer password is refused rather than silently cut.
pub const PASSWORD_MAX_BYTES: usize = 72;
pub const NAME_MAX_CHARS: usize = 100;
/// Longer user agents are cut before they are stored.
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// The rules of the input types (`crate::model::input`), as garde custom rules. garde carries one
/// message per error; each of ours is written by `coded` as `code: message`, and `field_errors`
/// splits it back into the contract's `code` and the human message. Nothing else's text is read.
pub mod rules {
    use super::*;

    fn coded(code: &'static str, message: impl fmt::Display) -> garde::Error {
        garde::Error::new(format!("{code}: {message}"))
    }

    pub fn username_length(value: &str, _: &()) -> garde::Result {
        let chars = value.chars().count();
        if chars < USERNAME_MIN_CHARS {
            Err(coded(
                "too_short",
                format_args!("must be at least {USERNAME_MIN_CHARS} characters"),
            ))
        } else if chars > USERNAME_MAX_CHARS {
            Err(coded(
                "too_long",
                format_args!("must be at most {USERNAME_MAX_CHARS} characters"),
            ))
        } else {
            Ok(())
        }
    }

    pub fn username_charset(value: &str, _: &()) -> garde::Result {
        if value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Ok(())
        } else {
            Err(coded(
                "invalid_characters",
                "may contain only letters A-Z, digits and underscores",
            ))
        }
    }

    pub fn email(value: &str, _: &()) -> garde::Result {
        if value.chars().count() > EMAIL_MAX_CHARS {
            Err(coded(
                "too_long",
                format_args!("must be at most {EMAIL_MAX_CHARS} characters"),
            ))
        } else if !is_valid_email(value) {
            Err(coded("invalid_email", "must be a valid email address"))
        } else {
            Ok(())
        }
    }

    pub fn password_length(value: &str, _: &()) -> garde::Result {
        let bytes = value.len();
        if bytes < PASSWORD_MIN_BYTES {
            Err(coded(
                "too_short",
                format_args!("must be at least {PASSWORD_MIN_BYTES} bytes"),
            ))
        } else if bytes > PASSWORD_MAX_BYTES {
            Err(coded(
                "too_long",
                format_args!("must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8"),
            ))
        } else {
            Ok(())
        }
    }

    pub fn password_letter(value: &str, _: &()) -> garde::Result {
        if value.chars().any(char::is_alphabetic) {
            Ok(())
        } else {
            Err(coded("missing_letter", "must contain at least one letter"))
        }
    }

    pub fn password_digit(value: &str, _: &()) -> garde::Result {
        if value.chars().any(|c| c.is_ascii_digit()) {
            Ok(())
        } else {
            Err(coded("missing_digit", "must contain at least one digit"))
        }
    }

    pub fn name_length(value: &str, _: &()) -> garde::Result {
        if value.chars().count() > NAME_MAX_CHARS {
            Err(coded(
                "too_long",
                format_args!("must be at most {NAME_MAX_CHARS} characters"),
            ))
        } else {
            Ok(())
        }
    }

    pub fn name_visible(value: &str, _: &()) -> garde::Result {
        if value.chars().any(is_hidden) {
            Err(coded(
                "invalid_characters",
                "must not contain control or format characters (such as bidirectional overrides)",
            ))
        } else {
            Ok(())
        }
    }
}

/// Every code a rule above can give: what `field_errors` reads back.
const CODES: [&str; 7] = [
    "too_short",
    "too_long",
    "invalid_characters",
    "invalid_email",
    "missing_letter",
    "missing_digit",
    "invalid",
];

/// A garde report as the contract's field errors; errors with no path of their own (a value
/// judged alone) are named `field`.
pub fn field_errors(report: garde::Report, field: &str) -> Vec<FieldError> {
    report
        .iter()
        .map(|(path, error)| {
            let path = path.to_string();
            let name = if path.is_empty() {
                field
            } else {
                path.as_str()
            };
            let (code, message) = error
                .message()
                .split_once(": ")
                .unwrap_or(("invalid", error.message()));
            let code = CODES
                .into_iter()
                .find(|known| *known == code)
                .unwrap_or("invalid");
            FieldError::new(name, code, message)
        })
        .collect()
}

/// A practical subset of RFC 5321 addresses: a dot-atom local part and a DNS domain name.
fn is_valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// Control characters (Cc), format characters (Cf: bidirectional overrides and isolates,
/// zero-width joiners, soft hyphens …) and the line and paragraph separators (Zl, Zp, which
/// break a log line or a table cell like a newline): invisible, and able to make a name read as
/// another.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// A client's self-description as it is stored: hidden characters removed, then cut to
/// `USER_AGENT_MAX_CHARS`.
pub fn clean_user_agent(raw: &str) -> String {
    raw.chars()
        .filter(|c| !is_hidden(*c))
        .take(USER_AGENT_MAX_CHARS)
        .collect()
}

/// The codes of every rule `value` breaks.
#[cfg(test)]
fn codes<T: garde::Validate<Context = ()>>(value: T) -> Vec<&'static str> {
    match value.validate() {
        Ok(()) => Vec::new(),
        Err(report) => field_errors(report, "f")
            .into_iter()
            .map(|e| e.code)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DisplayName, Email, Password, Username};

    #[test]
    fn usernames_follow_the_contract() {
        assert!(codes(Username::from("alice_1")).is_empty());
        assert!(codes(Username::from("abc")).is_empty());
        assert!(codes(Username::from(String::from(&"a".repeat(32)))).is_empty());
        assert_eq!(codes(Username::from("ab")), ["too_short"]);
        assert_eq!(
            codes(Username::from(String::from(&"a".repeat(33)))),
            ["too_long"]
        );
        assert_eq!(codes(Username::from("al ice")), ["invalid_characters"]);
        assert_eq!(codes(Username::from("alicé")), ["invalid_characters"]);
        assert_eq!(codes(Username::from("a@b")), ["invalid_characters"]);
    }

    #[test]
    fn emails_follow_the_contract() {
        assert!(codes(Email::from("alice@example.com")).is_empty());
        assert!(codes(Email::from("a.b+tag@sub.example.org")).is_empty());
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "al ice@example.com",
            "alice@exa mple.com",
            "alice@-example.com",
            "a..b@example.com",
            "alice@example.c0m",
            "<script>@example.com",
        ] {
            assert_eq!(
                codes(Email::from(String::from(bad))),
                ["invalid_email"],
                "{bad}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(codes(Email::from(String::from(&long))), ["too_long"]);
    }

    #[test]
    fn passwords_are_counted_in_bytes_and_need_a_letter_and_a_digit() {
        assert!(codes(Password::from("password1")).is_empty());
        assert!(
            codes(Password::from(String::from(&format!(
                "a1{}",
                "x".repeat(70)
            ))))
            .is_empty()
        );
        assert_eq!(codes(Password::from("pass1")), ["too_short"]);
        assert_eq!(
            codes(Password::from(String::from(&format!(
                "a1{}",
                "x".repeat(71)
            )))),
            ["too_long"]
        );
        // 36 two-byte characters are 72 bytes: allowed; one more is refused.
        assert!(
            codes(Password::from(String::from(&format!(
                "1{}",
                "é".repeat(35)
            ))))
            .is_empty()
        );
        assert_eq!(
            codes(Password::from(String::from(&format!(
                "1{}",
                "é".repeat(36)
            )))),
            ["too_long"]
        );
        assert_eq!(codes(Password::from("password")), ["missing_digit"]);
        assert_eq!(codes(Password::from("12345678")), ["missing_letter"]);
    }

    #[test]
    fn names_are_short_and_printable() {
        assert!(codes(DisplayName::from("Alice Liddell")).is_empty());
        assert_eq!(
            codes(DisplayName::from(String::from(&"n".repeat(101)))),
            ["too_long"]
        );
        assert_eq!(
            codes(DisplayName::from("Al\u{0}ice")),
            ["invalid_characters"]
        );
        assert_eq!(codes(DisplayName::from("Al\nice")), ["invalid_characters"]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{DisplayName, Email, Password, Username};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        // Any string at all: no panic, and the verdict is the contract's rule, restated.
        #[test]
        fn usernames_are_judged_by_the_contracts_rule(s in any::<String>()) {
            let expected = (3..=32).contains(&s.chars().count())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            prop_assert_eq!(codes(Username::from(String::from(&s))).is_empty(), expected);
        }

        #[test]
        fn passwords_are_judged_by_the_contracts_rule(s in any::<String>()) {
            let expected = (8..=72).contains(&s.len())
                && s.chars().any(char::is_alphabetic)
                && s.chars().any(|c| c.is_ascii_digit());
            prop_assert_eq!(codes(Password::from(String::from(&s))).is_empty(), expected);
        }

        #[test]
        fn names_are_judged_by_the_contracts_rule(s in any::<String>()) {
            let hidden = |c: char| c.is_control()
                || matches!(c.general_category(), GeneralCategory::Format | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator);
            let expected = s.chars().count() <= 100 && !s.chars().any(hidden);
            prop_assert_eq!(codes(DisplayName::from(String::from(&s))).is_empty(), expected);
        }

        #[test]
        fn stored_user_agents_are_short_and_visible(s in any::<String>()) {
            let cleaned = clean_user_agent(&s);
            prop_assert!(cleaned.chars().count() <= USER_AGENT_MAX_CHARS);
            prop_assert!(!cleaned.chars().any(is_hidden));
        }

        #[test]
        fn any_email_text_is_judged_without_panic_and_never_over_254(s in any::<String>()) {
            let email = Email::from(s.clone());
            if codes(email.clone()).is_empty() {
                let stored = email.as_str();
                prop_assert!(stored.chars().count() <= 254);
                prop_assert_eq!(stored.matches('@').count(), 1);
                prop_assert!(!stored.chars().any(char::is_whitespace));
            }
        }

        #[test]
        fn ordinary_addresses_are_accepted(
            local in "[a-z0-9]([a-z0-9._+-]{0,30}[a-z0-9])?",
            domain in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
            tld in "[a-z]{2,10}",
        ) {
            prop_assume!(!local.contains(".."));
            let email = format!("{local}@{domain}.{tld}");
            prop_assert!(codes(Email::from(String::from(&email))).is_empty(), "{}", email);
        }

        #[test]
        fn lower_casing_is_idempotent(s in any::<String>()) {
            let once = Email::from(s.clone());
            prop_assert_eq!(Email::from(once.clone().into_inner()), once);
        }
    }
}

//! The `OneTimeCodes` port over totp-rs (RFC 6238: HMAC-SHA-1, 6 digits, 30 s, one step either
//! side) and qrcode (the enrolment URI as an SVG QR code, so no image library is linked in).

use domain::{DomainError, OneTimeCodes, TotpEnrolment};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use totp_rs::{Algorithm, Builder, Totp};

const DIGITS: u8 = 6;
const STEP_SECONDS: u64 = 30;
/// Codes of the step before and after are accepted too: clocks drift, people type slowly.
const SKEW: u16 = 1;
const SECRET_BYTES: usize = 20;

pub struct TotpCodes {
    /// Shown by authenticator apps above the account: the service's name.
    issuer: String,
}

impl TotpCodes {
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
        }
    }

    fn totp(&self, secret: &[u8], account: &str) -> Result<Totp, DomainError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW)
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret.to_vec())
            .with_account_name(account)
            .with_issuer(Some(self.issuer.as_str()))
            .build()
            .map_err(|err| DomainError::Internal(format!("TOTP parameters: {err}")))
    }
}

impl OneTimeCodes for TotpCodes {
    fn new_secret(&self) -> Vec<u8> {
        rand::random::<[u8; SECRET_BYTES]>().to_vec()
    }

    fn enrolment(&self, secret: &[u8], account: &str) -> Result<TotpEnrolment, DomainError> {
        let totp = self.totp(secret, account)?;
        let otpauth_uri = totp
            .to_url()
            .map_err(|err| DomainError::Internal(format!("otpauth URI: {err}")))?;
        let qr_svg = QrCode::with_error_correction_level(otpauth_uri.as_bytes(), EcLevel::M)
            .map_err(|err| DomainError::Internal(format!("QR code: {err}")))?
            .render::<svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build();
        Ok(TotpEnrolment {
            secret: totp.secret().to_base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    fn step_of(&self, secret: &[u8], code: &str, unix_time: i64) -> Option<i64> {
        // Only the code's digits are judged: the account name plays no part in them.
        let totp = self.totp(secret, "account").ok()?;
        let time = u64::try_from(unix_time).ok()?;
        totp.check(code, time)
            .and_then(|step| i64::try_from(step).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 seed and the 8-digit codes; 6-digit codes are their last
    /// six digits (RFC 4226's truncation keeps the low digits).
    const RFC_SEED: &[u8] = b"12345678901234567890";
    const RFC_VECTORS: [(i64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn codes() -> TotpCodes {
        TotpCodes::new("auth-api")
    }

    #[test]
    fn the_rfc_6238_vectors_match_their_step() {
        for (time, code) in RFC_VECTORS {
            assert_eq!(
                codes().step_of(RFC_SEED, &code[2..], time),
                Some(time / 30),
                "{time}"
            );
        }
    }

    #[test]
    fn a_code_matches_its_neighbouring_steps_and_no_further() {
        let (time, code) = (1_234_567_890, &"89005924"[2..]);
        let step = time / 30;
        assert_eq!(codes().step_of(RFC_SEED, code, time + 30), Some(step));
        assert_eq!(codes().step_of(RFC_SEED, code, time - 30), Some(step));
        assert_eq!(codes().step_of(RFC_SEED, code, time + 60), None);
        assert_eq!(codes().step_of(RFC_SEED, code, time - 60), None);
    }

    #[test]
    fn anything_but_six_digits_matches_nothing() {
        let time = 1_234_567_890;
        for code in [
            "",
            "89005924",
            "05924",
            "005 924",
            "oo5924",
            "-05924",
            "００５９２４",
        ] {
            assert_eq!(codes().step_of(RFC_SEED, code, time), None, "{code:?}");
        }
        assert_eq!(codes().step_of(RFC_SEED, "005924", -1), None);
    }

    #[test]
    fn an_enrolment_carries_the_secret_in_base32_its_uri_and_a_qr_code() {
        let secret = codes().new_secret();
        assert_eq!(secret.len(), 20);
        assert_ne!(secret, codes().new_secret());
        let enrolment = codes().enrolment(RFC_SEED, "alice_1").unwrap();
        assert_eq!(enrolment.secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(
            enrolment
                .otpauth_uri
                .starts_with("otpauth://totp/auth-api:alice_1?"),
            "{}",
            enrolment.otpauth_uri
        );
        assert!(
            enrolment
                .otpauth_uri
                .contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        );
        assert!(enrolment.otpauth_uri.contains("issuer=auth-api"));
        assert!(
            enrolment.qr_svg.starts_with("<?xml"),
            "{}",
            &enrolment.qr_svg[..40]
        );
        assert!(enrolment.qr_svg.contains("<svg"));
    }
}

//! The SMTP mailer: the domain's `Mailer` port over lettre. The transport comes from one URL:
//! `smtp://user:pass@host:587` (STARTTLS required, the default), `smtps://user:pass@host:465`
//! (TLS from the first byte), `smtp://host:25?tls=none` (plain, for a relay on the same host or
//! network) or `?tls=opportunistic` (STARTTLS when offered).

use std::time::Duration;

use async_trait::async_trait;
use domain::{Mail, MailError, Mailer};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// Why a mail configuration is refused. Never holds the URL (it may hold a password).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmtpConfigError {
    #[error(
        "not a URL of the form smtp://[user:password@]host[:port][?tls=required|opportunistic|none] or smtps://…"
    )]
    Url,
    #[error("the scheme must be smtp or smtps")]
    Scheme,
    #[error("the URL names no host")]
    Host,
    #[error("tls must be required, opportunistic or none (smtps is always TLS)")]
    TlsMode,
    #[error("the sender is not a mailbox (e.g. auth-api <no-reply@example.com>)")]
    From,
    #[error("cannot set up TLS for the host: {0}")]
    Tls(String),
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (SMTPS, port 465).
    Wrapper,
    /// STARTTLS, and nothing is sent if the server does not offer it (port 587).
    StartTls,
    /// STARTTLS when offered, plain otherwise.
    Opportunistic,
    /// Plain text: only for a relay on a trusted network.
    None,
}

/// What an SMTP URL says.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub security: Security,
    credentials: Option<(String, String)>,
}

// Hand-written: the credentials never reach a log line.
impl std::fmt::Debug for SmtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl SmtpTarget {
    pub fn parse(raw: &str) -> Result<Self, SmtpConfigError> {
        let url = url::Url::parse(raw).map_err(|_| SmtpConfigError::Url)?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(SmtpConfigError::Host)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtps", None) => Security::Wrapper,
            ("smtp", None | Some("required")) => Security::StartTls,
            ("smtp", Some("opportunistic")) => Security::Opportunistic,
            ("smtp", Some("none")) => Security::None,
            ("smtp" | "smtps", _) => return Err(SmtpConfigError::TlsMode),
            _ => return Err(SmtpConfigError::Scheme),
        };
        let port = url.port().unwrap_or(match security {
            Security::Wrapper => 465,
            Security::StartTls | Security::Opportunistic => 587,
            Security::None => 25,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| SmtpConfigError::Url)
        };
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or_default())?,
            ))
        };
        Ok(Self {
            host,
            port,
            security,
            credentials,
        })
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }
}

/// Sends each message over SMTP, one connection per message.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `timeout` bounds every step of a delivery (connect, each command).
    pub fn new(url: &SecretString, from: &str, timeout: Duration) -> Result<Self, SmtpConfigError> {
        let target = SmtpTarget::parse(url.expose_secret())?;
        let from = from.parse().map_err(|_| SmtpConfigError::From)?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|err| SmtpConfigError::Tls(err.to_string()))
        };
        let security = match target.security {
            Security::Wrapper => Tls::Wrapper(tls(&target.host)?),
            Security::StartTls => Tls::Required(tls(&target.host)?),
            Security::Opportunistic => Tls::Opportunistic(tls(&target.host)?),
            Security::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.host)
            .port(target.port)
            .tls(security)
            .timeout(Some(timeout));
        if let Some((user, password)) = target.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

/// `mail` as an RFC 5322 message from `from`: a plain-text part and an HTML alternative.
pub fn message(mail: &Mail, from: &Mailbox) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| MailError::Permanent("the recipient is not a valid address".into()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(mail.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(mail.html.clone()),
                ),
        )
        .map_err(|err| MailError::Permanent(format!("cannot build the message: {err}")))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = message(mail, &self.from)?;
        // Every refusal is tried again: a 5xx may be the relay's configuration (credentials,
        // the sender), which an operator fixes, not the message's fault. A message the relay
        // never takes is given up after its attempts.
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|err| MailError::Transient(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_form_picks_its_protection_and_port() {
        let cases = [
            ("smtp://mail.example.com", Security::StartTls, 587),
            (
                "smtp://mail.example.com:2525?tls=required",
                Security::StartTls,
                2525,
            ),
            ("smtps://mail.example.com", Security::Wrapper, 465),
            ("smtp://localhost:25?tls=none", Security::None, 25),
            ("smtp://relay?tls=none", Security::None, 25),
            (
                "smtp://relay?tls=opportunistic",
                Security::Opportunistic,
                587,
            ),
        ];
        for (url, security, port) in cases {
            let target = SmtpTarget::parse(url).unwrap();
            assert_eq!((target.security, target.port), (security, port), "{url}");
        }
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let target =
            SmtpTarget::parse("smtp://apikey:p%40ss%3Aword+1&2@mail.example.com:587").unwrap();
        assert_eq!(
            target.credentials,
            Some(("apikey".into(), "p@ss:word+1&2".into()))
        );
        assert!(!format!("{target:?}").contains("word"));
        assert!(
            !SmtpTarget::parse("smtp://mail.example.com")
                .unwrap()
                .has_credentials()
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for (url, err) in [
            ("mail.example.com", SmtpConfigError::Url),
            ("http://mail.example.com", SmtpConfigError::Scheme),
            (
                "smtps://mail.example.com?tls=none",
                SmtpConfigError::TlsMode,
            ),
            (
                "smtp://mail.example.com?tls=maybe",
                SmtpConfigError::TlsMode,
            ),
        ] {
            assert_eq!(SmtpTarget::parse(url), Err(err), "{url}");
        }
        let secret = SecretString::from("smtp://u:hunter2@mail.example.com?tls=maybe");
        let err = SmtpMailer::new(&secret, "a@example.com", Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn a_message_has_a_text_and_an_html_part() {
        let mail = Mail {
            to: "alice@example.com".into(),
            subject: "Reset your password".into(),
            text: "plain words".into(),
            html: "<p>plain words</p>".into(),
        };
        let from: Mailbox = "auth-api <no-reply@example.com>".parse().unwrap();
        let formatted = String::from_utf8(message(&mail, &from).unwrap().formatted()).unwrap();
        assert!(formatted.contains("multipart/alternative"));
        assert!(formatted.contains("text/plain"));
        assert!(formatted.contains("text/html"));
        assert!(formatted.contains("To: alice@example.com"));
        let bad = Mail {
            to: "not an address".into(),
            ..mail
        };
        assert!(matches!(message(&bad, &from), Err(MailError::Permanent(_))));
    }
}

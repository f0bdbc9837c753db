use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What a client is, which decides how it authenticates and which grants it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A machine account: `client_credentials` only, with a secret.
    Service,
    /// A server-side app: the authorization code flow, with a secret.
    Confidential,
    /// A single-page or native app: the authorization code flow, no secret (PKCE alone).
    Public,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Service => "service",
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "service" => Some(ClientKind::Service),
            "confidential" => Some(ClientKind::Confidential),
            "public" => Some(ClientKind::Public),
            _ => None,
        }
    }

    /// Whether it authenticates with a secret.
    pub fn has_secret(self) -> bool {
        self != ClientKind::Public
    }
}

/// A client of the service's OAuth 2.0 endpoints. Its secret, when it has one, is stored only as
/// a keyed fingerprint.
#[derive(Clone, PartialEq)]
pub struct OAuthClient {
    pub id: Uuid,
    pub name: String,
    pub kind: ClientKind,
    /// `None` for a public client.
    pub secret_fingerprint: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Its users are never asked to consent.
    pub first_party: bool,
    /// It must push its authorization requests (RFC 9126).
    pub require_par: bool,
    /// It may use the password grant (RFC 9700 says it MUST NOT; some still must, for a while).
    pub allow_password_grant: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// Hand-written so that the fingerprint never reaches a log line through `{:?}`.
impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("redirect_uris", &self.redirect_uris)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// Whether `uri` is one of its redirect URIs: the same string, except that a public
    /// client's loopback redirect matches on any port (RFC 8252 §7.3: a native app listens on
    /// whatever port the system gives it).
    pub fn accepts_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == uri
                || (self.kind == ClientKind::Public
                    && loopback_without_port(registered)
                        .is_some_and(|r| loopback_without_port(uri) == Some(r)))
        })
    }

    /// Whether `uri` is one of its post-logout redirect URIs (the same string, always).
    pub fn accepts_post_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }
}

/// `http://127.0.0.1:PORT/path?query` as `http://127.0.0.1/path?query`; `None` for anything that
/// is not an `http` URL on a loopback host.
fn loopback_without_port(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    if url.scheme() != "http" || !is_loopback(&url) {
        return None;
    }
    url.set_port(None).ok()?;
    Some(url.to_string())
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why `uri` cannot be a redirect URI, if it cannot: absolute, no fragment, no user or
/// password, `https`, or `http` on a loopback host only, and never a wildcard.
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Some("is longer than 2000 bytes");
    }
    if uri.contains('*') {
        return Some("may not contain a wildcard");
    }
    let Ok(url) = url::Url::parse(uri) else {
        return Some("is not an absolute URL");
    };
    if url.fragment().is_some() {
        return Some("may not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("may not hold a user or password");
    }
    match url.scheme() {
        "https" if url.host().is_some() => None,
        "http" if is_loopback(&url) => None,
        "http" => Some("must be https (http only on a loopback host)"),
        _ => Some("must be an https URL (or http on a loopback host)"),
    }
}

/// A redirect URI is a URL, not a document.
pub const MAX_REDIRECT_URI_BYTES: usize = 2000;
/// Redirect URIs one client may have, of each kind.
pub const MAX_REDIRECT_URIS: usize = 20;

/// What an admin asks for when registering a client; only the name is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub require_par: bool,
    pub allow_password_grant: bool,
}

impl ClientRegistration {
    /// A service client of this name, nothing else: what `{name}` alone asks for.
    pub fn service(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: ClientKind::Service,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            first_party: false,
            require_par: false,
            allow_password_grant: false,
        }
    }
}

/// The fields an admin changes; `None` leaves one as it is. A client's kind never changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub require_par: Option<bool>,
    pub allow_password_grant: Option<bool>,
}

/// A client just made, or given a new secret: the only moment its secret exists outside the
/// client's hands. A public client has none.
#[derive(Clone)]
pub struct CreatedClient {
    pub client: OAuthClient,
    pub secret: Option<String>,
}

// Hand-written so that the secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(kind: ClientKind, redirects: &[&str]) -> OAuthClient {
        let now = chrono::Utc::now();
        OAuthClient {
            id: Uuid::new_v4(),
            name: "app".into(),
            kind,
            secret_fingerprint: None,
            redirect_uris: redirects.iter().map(|r| (*r).to_owned()).collect(),
            post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
            first_party: false,
            require_par: false,
            allow_password_grant: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragment_user_or_wildcard() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=a",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:8400/callback",
            "http://[::1]:8400/callback",
            "http://localhost:3000/cb",
        ] {
            assert_eq!(redirect_uri_problem(good), None, "{good}");
        }
        for bad in [
            "/callback",
            "app.example.com/callback",
            "http://app.example.com/callback",
            "https://app.example.com/cb#x",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "com.example.app:/callback",
            "ftp://app.example.com/cb",
            "http://127.0.0.1.example.com/cb",
        ] {
            assert!(redirect_uri_problem(bad).is_some(), "{bad}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(2000));
        assert!(redirect_uri_problem(&long).is_some());
    }

    #[test]
    fn redirects_match_exactly_but_a_public_clients_loopback_on_any_port() {
        let confidential = client(
            ClientKind::Confidential,
            &["https://app.example.com/cb", "http://127.0.0.1:8400/cb"],
        );
        assert!(confidential.accepts_redirect("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "http://127.0.0.1:8401/cb",
        ] {
            assert!(!confidential.accepts_redirect(other), "{other}");
        }
        let public = client(ClientKind::Public, &["http://127.0.0.1/cb"]);
        assert!(public.accepts_redirect("http://127.0.0.1:51234/cb"));
        assert!(public.accepts_redirect("http://127.0.0.1/cb"));
        for other in [
            "http://127.0.0.1:51234/cb2",
            "http://127.0.0.1:51234/cb?x=1",
            "http://[::1]:51234/cb",
            "https://127.0.0.1:51234/cb",
        ] {
            assert!(!public.accepts_redirect(other), "{other}");
        }
        assert!(public.accepts_post_logout_redirect("https://app.example.com/bye"));
        assert!(!public.accepts_post_logout_redirect("https://app.example.com/bye?x"));
    }

    #[test]
    fn the_fingerprint_stays_out_of_debug_output() {
        let mut c = client(ClientKind::Service, &[]);
        c.secret_fingerprint = Some("fp-secret-ish".into());
        assert!(!format!("{c:?}").contains("fp-secret-ish"));
    }
}

//! Prometheus metrics: requests by route and status, latency, authentication outcomes, and the
//! database pool.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use domain::{AuditEvent, AuditOutcome, AuditRecord, StoreHealth};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    logins: IntCounterVec,
    refresh_reuse: IntCounter,
    lockouts: IntCounter,
    mfa: IntCounterVec,
    tokens_issued: IntCounterVec,
    key_age: prometheus::Gauge,
    keys: IntCounterVec,
    recovery: IntCounterVec,
    mail: IntCounterVec,
    pool: IntGaugeVec,
}

/// The ways tokens are issued: the OAuth grants, and the JSON API's register and MFA step.
const GRANTS: [&str; 5] = [
    "password",
    "refresh_token",
    "client_credentials",
    "register",
    "mfa",
];

impl Metrics {
    pub fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let logins = IntCounterVec::new(
            Opts::new("auth_logins_total", "Login attempts by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let refresh_reuse = IntCounter::new(
            "auth_refresh_reuse_total",
            "Rotated refresh tokens presented again (sessions revoked)",
        )
        .expect("valid metric");
        let lockouts = IntCounter::new("auth_lockouts_total", "Logins locked after failures")
            .expect("valid metric");
        let mfa = IntCounterVec::new(
            Opts::new(
                "auth_mfa_events_total",
                "Second-factor events by audit event",
            ),
            &["event"],
        )
        .expect("valid metric");
        let tokens_issued = IntCounterVec::new(
            Opts::new(
                "auth_tokens_issued_total",
                "Token responses by grant (password, refresh_token, client_credentials, register, mfa)",
            ),
            &["grant"],
        )
        .expect("valid metric");
        let key_age = prometheus::Gauge::new(
            "auth_signing_key_age_seconds",
            "How long the current signing key has signed (0 when JWT_SECRET_KEY signs)",
        )
        .expect("valid metric");
        let keys = IntCounterVec::new(
            Opts::new(
                "auth_key_events_total",
                "Signing key and service client events by audit event",
            ),
            &["event"],
        )
        .expect("valid metric");
        let recovery = IntCounterVec::new(
            Opts::new(
                "auth_recovery_events_total",
                "Password reset and address verification events by audit event and outcome",
            ),
            &["event", "outcome"],
        )
        .expect("valid metric");
        let mail = IntCounterVec::new(
            Opts::new(
                "auth_mail_deliveries_total",
                "Mail by outcome: delivery attempts (sent, retried, given_up), and messages dropped by the per-recipient cap (suppressed)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let registry = Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(logins.clone()),
            Box::new(refresh_reuse.clone()),
            Box::new(lockouts.clone()),
            Box::new(mfa.clone()),
            Box::new(tokens_issued.clone()),
            Box::new(key_age.clone()),
            Box::new(keys.clone()),
            Box::new(recovery.clone()),
            Box::new(mail.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(collector).expect("each metric once");
        }
        Self {
            registry,
            requests,
            latency,
            logins,
            refresh_reuse,
            lockouts,
            mfa,
            tokens_issued,
            key_age,
            keys,
            recovery,
            mail,
            pool,
        }
    }

    /// Counts what an audit record says about authentication.
    pub fn observe_audit(&self, record: &AuditRecord) {
        match record.event {
            AuditEvent::Login => self
                .logins
                .with_label_values(&[record.outcome.as_str()])
                .inc(),
            AuditEvent::RefreshReuse => self.refresh_reuse.inc(),
            AuditEvent::Lockout if record.outcome == AuditOutcome::Success => self.lockouts.inc(),
            AuditEvent::MfaEnabled
            | AuditEvent::MfaDisabled
            | AuditEvent::MfaFailure
            | AuditEvent::RecoveryCodeUsed => {
                self.mfa.with_label_values(&[record.event.as_str()]).inc()
            }
            AuditEvent::KeyRotated
            | AuditEvent::KeyRetired
            | AuditEvent::ClientCreated
            | AuditEvent::ClientUpdated
            | AuditEvent::ClientSecretReplaced
            | AuditEvent::ClientDeleted => {
                self.keys.with_label_values(&[record.event.as_str()]).inc()
            }
            AuditEvent::PasswordResetRequested
            | AuditEvent::PasswordReset
            | AuditEvent::EmailVerified
            | AuditEvent::MailFailed => self
                .recovery
                .with_label_values(&[record.event.as_str(), record.outcome.as_str()])
                .inc(),
            _ => {}
        }
    }

    /// What one round of the outbox did (the dropped messages come through `MailMetrics`).
    pub fn mail_delivered(&self, report: domain::DeliveryReport) {
        for (outcome, count) in [
            ("sent", report.sent),
            ("retried", report.retried),
            ("given_up", report.given_up),
        ] {
            self.mail.with_label_values(&[outcome]).inc_by(count.into());
        }
    }

    /// One token response for `grant` (one of `GRANTS`; anything else is not counted).
    pub fn token_issued(&self, grant: &str) {
        if GRANTS.contains(&grant) {
            self.tokens_issued.with_label_values(&[grant]).inc();
        }
    }

    /// The text exposition, with the pool and the signing key's age (since `key_since`) read
    /// now.
    pub fn render(
        &self,
        store: &dyn StoreHealth,
        key_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        let age = key_since.map_or(0.0, |since| {
            (chrono::Utc::now() - since).num_milliseconds().max(0) as f64 / 1000.0
        });
        self.key_age.set(age);
        if let Some(usage) = store.connections() {
            let in_use = usage.open.saturating_sub(usage.idle);
            self.pool.with_label_values(&["in_use"]).set(in_use.into());
            self.pool
                .with_label_values(&["idle"])
                .set(usage.idle.into());
            self.pool.with_label_values(&["max"]).set(usage.max.into());
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Every label value comes from a closed set, so that no client can grow the exposition: the
/// route is a registered pattern or `unmatched`, the status a number the server chose, and the
/// method one of the standard ones or `other` (HTTP lets a client invent any method name).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// Counts every request under its route pattern (never its raw path: ids would explode the
/// label set).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        metrics
            .requests
            .with_label_values(&[route.as_str(), method, status.as_str()])
            .inc();
        metrics
            .latency
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

impl domain::MailMetrics for Metrics {
    fn suppressed(&self, _kind: domain::MailKind) {
        self.mail.with_label_values(&["suppressed"]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for junk in ["FOO", "get", "X-1", "PROPFIND"] {
            assert_eq!(
                method_label(&Method::from_bytes(junk.as_bytes()).unwrap()),
                "other"
            );
        }
    }
}

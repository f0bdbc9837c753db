//! Rows as the tables hold them, and their translation to and from the domain's entities.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::{
    AuditEvent, AuditOutcome, AuditRecord, Role, Session, SessionKind, StoreError, User, UserPatch,
};
use uuid::Uuid;

use crate::error::corrupt;
use crate::schema::{audit_events, sessions, users};

pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn parse_uuid(what: &str, value: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(value).map_err(|_| corrupt(what, value))
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub username_lower: String,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub mfa_enabled: bool,
    pub email_verified: bool,
}

/// The columns a patch names; diesel leaves out every `None` (`name: Some(None)` writes NULL).
#[derive(AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub username: Option<String>,
    pub username_lower: Option<String>,
    pub email: Option<String>,
    pub name: Option<Option<String>>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
    pub email_verified: Option<bool>,
    pub updated_at: NaiveDateTime,
}

impl UserChanges {
    pub fn new(patch: &UserPatch, updated_at: DateTime<Utc>) -> Self {
        Self {
            username: patch.username.as_ref().map(|u| u.as_str().to_owned()),
            username_lower: patch.username.as_ref().map(|u| u.as_str().to_lowercase()),
            email: patch.email.as_ref().map(|e| e.as_str().to_owned()),
            name: patch
                .name
                .as_ref()
                .map(|name| name.as_ref().map(|n| n.as_str().to_owned())),
            role: patch.role.map(|role| role.as_str().to_owned()),
            is_active: patch.is_active,
            email_verified: patch.email_verified,
            updated_at: naive(updated_at),
        }
    }
}

impl From<&User> for UserRow {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            username_lower: user.username.to_lowercase(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            is_active: user.is_active,
            password_hash: user.password_hash.clone(),
            created_at: naive(user.created_at),
            updated_at: naive(user.updated_at),
            mfa_enabled: user.mfa_enabled,
            email_verified: user.email_verified,
        }
    }
}

impl UserRow {
    /// `locked_until` comes from the user's login throttle, joined in by the query.
    pub fn into_user(self, locked_until: Option<NaiveDateTime>) -> Result<User, StoreError> {
        Ok(User {
            id: parse_uuid("user id", &self.id)?,
            role: Role::parse(&self.role).ok_or_else(|| corrupt("role", &self.role))?,
            username: self.username,
            email: self.email,
            name: self.name,
            is_active: self.is_active,
            password_hash: self.password_hash,
            locked_until: locked_until.map(utc),
            mfa_enabled: self.mfa_enabled,
            email_verified: self.email_verified,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub refresh_jti: String,
    pub previous_refresh_jti: Option<String>,
    pub rotated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub mfa: bool,
    pub kind: String,
    pub client_id: Option<String>,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            refresh_jti: s.refresh_jti.to_string(),
            previous_refresh_jti: s.previous_refresh_jti.map(|j| j.to_string()),
            rotated_at: s.rotated_at.map(naive),
            created_at: naive(s.created_at),
            last_used_at: naive(s.last_used_at),
            expires_at: naive(s.expires_at),
            revoked_at: s.revoked_at.map(naive),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            mfa: s.mfa,
            kind: s.kind.as_str().to_owned(),
            client_id: s.client_id.map(|id| id.to_string()),
        }
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: parse_uuid("session id", &row.id)?,
            kind: SessionKind::parse(&row.kind)
                .ok_or_else(|| corrupt("sessions.kind", &row.kind))?,
            user_id: parse_uuid("session user id", &row.user_id)?,
            refresh_jti: parse_uuid("refresh jti", &row.refresh_jti)?,
            previous_refresh_jti: row
                .previous_refresh_jti
                .as_deref()
                .map(|j| parse_uuid("previous refresh jti", j))
                .transpose()?,
            rotated_at: row.rotated_at.map(utc),
            created_at: utc(row.created_at),
            last_used_at: utc(row.last_used_at),
            expires_at: utc(row.expires_at),
            revoked_at: row.revoked_at.map(utc),
            user_agent: row.user_agent,
            ip: row.ip,
            mfa: row.mfa,
            client_id: row
                .client_id
                .as_deref()
                .map(|id| parse_uuid("session client id", id))
                .transpose()?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub event: String,
    pub outcome: String,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl From<&AuditRecord> for AuditRow {
    fn from(r: &AuditRecord) -> Self {
        Self {
            id: r.id.to_string(),
            at: naive(r.at),
            event: r.event.as_str().to_owned(),
            outcome: r.outcome.as_str().to_owned(),
            user_id: r.user_id.map(|id| id.to_string()),
            actor_id: r.actor_id.map(|id| id.to_string()),
            ip: r.ip.clone(),
            request_id: r.request_id.clone(),
            detail: r.detail.clone(),
        }
    }
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let optional_id = |what: &str, value: Option<String>| {
            value.as_deref().map(|v| parse_uuid(what, v)).transpose()
        };
        Ok(AuditRecord {
            id: parse_uuid("audit id", &row.id)?,
            at: utc(row.at),
            event: AuditEvent::parse(&row.event)
                .ok_or_else(|| corrupt("audit event", &row.event))?,
            outcome: AuditOutcome::parse(&row.outcome)
                .ok_or_else(|| corrupt("audit outcome", &row.outcome))?,
            user_id: optional_id("audit user id", row.user_id)?,
            actor_id: optional_id("audit actor id", row.actor_id)?,
            ip: row.ip,
            request_id: row.request_id,
            detail: row.detail,
        })
    }
}

// Kept by hand in the types both backends share (see migrations/): TEXT ids, TIMESTAMP in UTC.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        username_lower -> Text,
        email -> Text,
        name -> Nullable<Text>,
        role -> Text,
        is_active -> Bool,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        mfa_enabled -> Bool,
        email_verified -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        refresh_jti -> Text,
        previous_refresh_jti -> Nullable<Text>,
        rotated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        mfa -> Bool,
        kind -> Text,
        client_id -> Nullable<Text>,
    }
}

diesel::table! {
    login_throttles (key) {
        key -> Text,
        failed_count -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rate_limits (key, window_start) {
        key -> Text,
        window_start -> Timestamp,
        count -> Integer,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        event -> Text,
        outcome -> Text,
        user_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    login_throttles,
    rate_limits,
    audit_events,
    totp_factors,
    recovery_codes,
    mfa_challenges,
    signing_keys,
    service_clients,
    authorization_codes,
    consents,
    mail_tokens,
    outbox
);

diesel::table! {
    authorization_codes (fingerprint) {
        fingerprint -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        user_id -> Text,
        browser_session -> Text,
        scopes -> Text,
        code_challenge -> Text,
        nonce -> Nullable<Text>,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        session_id -> Nullable<Text>,
        replayed -> Bool,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    mail_tokens (fingerprint) {
        fingerprint -> Text,
        user_id -> Text,
        purpose -> Text,
        email -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        sealed_mail -> Binary,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claim_id -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> Text,
        sealed_secret -> Binary,
        enabled_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (user_id, fingerprint) {
        user_id -> Text,
        fingerprint -> Text,
        spent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    mfa_challenges (token_fingerprint) {
        token_fingerprint -> Text,
        user_id -> Text,
        password_fingerprint -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        state -> Text,
        sealed_private -> Binary,
        public_jwk -> Text,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        deactivated_at -> Nullable<Timestamp>,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    service_clients (id) {
        id -> Text,
        name -> Text,
        secret_fingerprint -> Text,
        created_at -> Timestamp,
        kind -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        first_party -> Bool,
        require_par -> Bool,
        allow_password_grant -> Bool,
        updated_at -> Timestamp,
    }
}

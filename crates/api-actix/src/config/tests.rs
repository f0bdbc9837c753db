use super::*;

const STRONG: &str = "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903";

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let vars = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::from_vars(&vars, false)
}

#[test]
fn defaults_follow_the_contract() {
    let s = load(&[]).unwrap();
    assert_eq!(s.server.public_url, None);
    let s = s.at_configured_address();
    assert_eq!(s.env, AppEnv::Development);
    assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 8080));
    assert_eq!(s.database.url.as_str(), "data/auth.db");
    assert_eq!(s.jwt.algorithm, KeyAlgorithm::ES256);
    assert_eq!(
        (s.jwt.issuer.as_str(), s.jwt.audience.as_str()),
        ("http://127.0.0.1:8080", "auth-api")
    );
    assert_eq!(
        s.server.public_url.as_ref().unwrap().as_str(),
        "http://127.0.0.1:8080"
    );
    assert_eq!(
        (s.keys.rotate_after_days, s.keys.reload_seconds.get()),
        (90, 60)
    );
    assert_eq!(
        (
            s.jwt.access_ttl_seconds.get(),
            s.jwt.refresh_ttl_seconds.get()
        ),
        (900, 2_592_000)
    );
    assert_eq!(s.jwt.refresh_reuse_grace_seconds, 10);
    assert_eq!(s.jwt.leeway_seconds, 0);
    assert_eq!(s.password.bcrypt_cost.get(), 12);
    assert_eq!(
        (
            s.lockout.max_failed_attempts.get(),
            s.lockout.duration_seconds
        ),
        (5, 900)
    );
    assert!(s.rate_limit.enabled);
    assert_eq!(
        (
            s.rate_limit.users_update_per_minute,
            s.rate_limit.revoke_per_minute,
            s.rate_limit.mfa_per_minute
        ),
        (30, 60, 10)
    );
    assert_eq!(s.rate_limit.store, RateLimitStoreKind::Auto);
    assert!(s.cors.allowed_origins.is_empty());
    assert_eq!(s.audit.retention_days.get(), 365);
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert!(s.jwt.secret.is_none());
}

#[test]
fn environment_variables_override_files_and_conventional_names_win() {
    let s = load(&[
        ("APP__SERVER__PORT", "9001"),
        ("APP__JWT__LEEWAY_SECONDS", "30"),
        ("APP__DATABASE__URL", "from-app.db"),
        ("DATABASE_URL", "postgres://u@db:5432/auth"),
        ("APP__JWT__SECRET", "from-app"),
        ("JWT_SECRET_KEY", "from-conventional"),
    ])
    .unwrap();
    assert_eq!(s.server.port, 9001);
    assert_eq!(s.jwt.leeway_seconds, 30);
    assert_eq!(s.database.url.as_str(), "postgres://u@db:5432/auth");
    assert_eq!(s.jwt.secret.unwrap().expose_secret(), "from-conventional");
}

#[test]
fn app_env_selects_its_file() {
    assert_eq!(
        load(&[("APP_ENV", "test")])
            .unwrap()
            .password
            .bcrypt_cost
            .get(),
        4
    );
    let s = load(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", STRONG),
        ("APP__MAIL__SMTP_URL", "smtp://relay.example.com:587"),
        ("APP__SERVER__PUBLIC_URL", "https://auth.example.com"),
    ])
    .unwrap();
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.server.host, "0.0.0.0");
    assert_eq!(s.mail.transport, MailTransport::Smtp);
}

#[test]
fn mail_links_default_to_the_services_own_pages() {
    let s = load(&[("APP__SERVER__PUBLIC_URL", "https://auth.example.com/")])
        .unwrap()
        .at_configured_address();
    assert_eq!(s.mail.transport, MailTransport::File);
    assert_eq!(
        s.mail.reset_link,
        "https://auth.example.com/reset-password?token={token}"
    );
    assert_eq!(
        s.mail.verify_link,
        "https://auth.example.com/verify-email?token={token}"
    );
    let own = load(&[(
        "APP__MAIL__VERIFY_LINK",
        "https://app.example.com/#/verify/{token}",
    )])
    .unwrap();
    assert_eq!(
        own.mail.verify_link,
        "https://app.example.com/#/verify/{token}"
    );
}

#[test]
fn mail_settings_are_refused_naming_their_key_and_never_echoing_the_url() {
    let production = [("APP_ENV", "production"), ("JWT_SECRET_KEY", STRONG)];
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&production, "APP__MAIL__SMTP_URL"),
        (
            &[
                production[0],
                production[1],
                ("APP__MAIL__TRANSPORT", "file"),
            ],
            "APP__MAIL__TRANSPORT",
        ),
        (
            &[
                ("APP__MAIL__TRANSPORT", "smtp"),
                ("APP__MAIL__SMTP_URL", "http://u:hunter2@x"),
            ],
            "APP__MAIL__SMTP_URL",
        ),
        (
            &[("APP__MAIL__TRANSPORT", "carrier-pigeon")],
            "APP__MAIL__TRANSPORT",
        ),
        (
            &[("APP__MAIL__RESET_LINK", "https://x.example.com/reset")],
            "APP__MAIL__RESET_LINK",
        ),
        (
            &[("APP__MAIL__VERIFY_LINK", "/verify?t={token}")],
            "APP__MAIL__VERIFY_LINK",
        ),
        (
            &[("APP__MAIL__MAX_ATTEMPTS", "0")],
            "APP__MAIL__MAX_ATTEMPTS",
        ),
    ];
    for (pairs, key) in cases {
        let err = load(pairs).unwrap_err();
        assert_eq!(err.key, *key, "{pairs:?}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn bad_values_are_refused_naming_their_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("APP_ENV", "staging")], "APP_ENV"),
        (&[("APP__SERVER__PORT", "eighty")], "APP__SERVER__PORT"),
        (&[("APP__JWT__ALGORITHM", "none")], "APP__JWT__ALGORITHM"),
        (
            &[("APP__PASSWORD__BCRYPT_COST", "3")],
            "APP__PASSWORD__BCRYPT_COST",
        ),
        (
            &[("APP__PASSWORD__BCRYPT_COST", "32")],
            "APP__PASSWORD__BCRYPT_COST",
        ),
        (&[("DATABASE_URL", "mysql://h/db")], "DATABASE_URL"),
        (&[("DATABASE_URL", "postgres://")], "DATABASE_URL"),
        (&[("APP__LOG__FORMAT", "xml")], "APP__LOG__FORMAT"),
        (
            &[("APP__RATE_LIMIT__STORE", "disk")],
            "APP__RATE_LIMIT__STORE",
        ),
        (
            &[("APP__RATE_LIMIT__TRUSTED_PROXIES", "10.0.0.0/8, nope")],
            "APP__RATE_LIMIT__TRUSTED_PROXIES",
        ),
        (
            &[("APP__CORS__ALLOWED_ORIGINS", "https://a.example.com/path")],
            "APP__CORS__ALLOWED_ORIGINS",
        ),
        (
            &[("APP__DATABASE__MAX_CONNECTIONS", "0")],
            "APP__DATABASE__MAX_CONNECTIONS",
        ),
        (
            &[("APP__JWT__ACCESS_TTL_SECONDS", "0")],
            "APP__JWT__ACCESS_TTL_SECONDS",
        ),
        (
            &[("APP__LOCKOUT__MAX_FAILED_ATTEMPTS", "0")],
            "APP__LOCKOUT__MAX_FAILED_ATTEMPTS",
        ),
        (
            &[("APP__PASSWORD__MAX_CONCURRENT_HASHES", "0")],
            "APP__PASSWORD__MAX_CONCURRENT_HASHES",
        ),
        (
            &[("APP__AUDIT__RETENTION_DAYS", "0")],
            "APP__AUDIT__RETENTION_DAYS",
        ),
        (&[("APP__JWT__TYPO", "1")], "APP__JWT__TYPO"),
        (&[("APP_ENV", "production")], "JWT_SECRET_KEY"),
        (
            &[("APP_ENV", "production"), ("JWT_SECRET_KEY", "short")],
            "JWT_SECRET_KEY",
        ),
    ];
    for (vars, key) in cases {
        let err = load(vars).unwrap_err();
        assert_eq!(&err.key, key, "{vars:?}: {err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn the_admin_bootstrap_needs_all_three_variables() {
    assert!(load(&[]).unwrap().admin_bootstrap.is_none());
    let s = load(&[
        ("ADMIN_USERNAME", "root_admin"),
        ("ADMIN_EMAIL", "root@example.com"),
        ("ADMIN_PASSWORD", "password1"),
    ])
    .unwrap();
    let admin = s.admin_bootstrap.unwrap();
    assert_eq!(admin.username, "root_admin");
    assert!(!format!("{admin:?}").contains("password1"));
    let err = load(&[
        ("ADMIN_USERNAME", "root_admin"),
        ("ADMIN_PASSWORD", "password1"),
    ])
    .unwrap_err();
    assert_eq!(err.key, "ADMIN_EMAIL");
}

#[test]
fn the_public_url_is_where_the_server_listens_unless_set_and_production_needs_it() {
    for (host, port, url) in [
        ("127.0.0.1", 9001, "http://127.0.0.1:9001"),
        ("0.0.0.0", 8080, "http://127.0.0.1:8080"),
        ("::", 8080, "http://127.0.0.1:8080"),
        ("::1", 9002, "http://[::1]:9002"),
        ("auth.internal", 80, "http://auth.internal:80"),
    ] {
        let mut s = load(&[]).unwrap();
        s.listening_on(host, port);
        let public = s.server.public_url.as_ref().unwrap().as_str();
        assert_eq!(public, url);
        assert_eq!(s.jwt.issuer, url);
        assert_eq!(
            s.mail.reset_link,
            format!("{url}/reset-password?token={{token}}")
        );
    }
    let mut set = load(&[
        ("APP__SERVER__PUBLIC_URL", "https://auth.example.com"),
        ("APP__JWT__ISSUER", "https://issuer.example.com"),
        ("APP__MAIL__SIGN_IN_LINK", "{public_url}/signin"),
    ])
    .unwrap();
    set.listening_on("127.0.0.1", 40123);
    assert_eq!(
        set.server.public_url.as_ref().unwrap().as_str(),
        "https://auth.example.com"
    );
    assert_eq!(set.jwt.issuer, "https://issuer.example.com");
    assert_eq!(set.mail.sign_in_link, "https://auth.example.com/signin");
    // Production serves only with one; the other commands do without.
    let production = load(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", STRONG),
        ("APP__MAIL__SMTP_URL", "smtp://relay.example.com:587"),
    ])
    .unwrap();
    let err = production.check_serving().unwrap_err();
    assert_eq!(err.key, "APP__SERVER__PUBLIC_URL");
    assert!(set.check_serving().is_ok());
    let err = load(&[("APP__MAIL__SIGN_IN_LINK", "/signin")]).unwrap_err();
    assert_eq!(err.key, "APP__MAIL__SIGN_IN_LINK");
}

#[test]
fn production_refuses_cheap_hashing() {
    let err = load(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", STRONG),
        ("APP__PASSWORD__BCRYPT_COST", "9"),
    ])
    .unwrap_err();
    assert_eq!(err.key, "APP__PASSWORD__BCRYPT_COST");
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let s = load(&[
        ("JWT_SECRET_KEY", "super-secret-value"),
        ("DATABASE_URL", "postgres://auth:db-password-value@db/auth"),
        ("ADMIN_USERNAME", "root_admin"),
        ("ADMIN_EMAIL", "root@example.com"),
        ("ADMIN_PASSWORD", "admin-password-value"),
    ])
    .unwrap();
    let shown = format!("{s:?}");
    for secret in [
        "super-secret-value",
        "db-password-value",
        "admin-password-value",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn typed_values_are_read_from_their_strings() {
    let s = load(&[
        ("APP__RATE_LIMIT__STORE", "database"),
        ("APP__RATE_LIMIT__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        (
            "APP__CORS__ALLOWED_ORIGINS",
            "https://a.example.com, http://localhost:3000",
        ),
        ("APP__JWT__ALGORITHM", "HS512"),
        ("JWT_SECRET_KEY", ""),
    ])
    .unwrap();
    assert_eq!(s.rate_limit.store, RateLimitStoreKind::Database);
    assert_eq!(
        s.cors.allowed_origins.iter().collect::<Vec<_>>(),
        ["https://a.example.com", "http://localhost:3000"]
    );
    assert_eq!(s.jwt.algorithm, KeyAlgorithm::HS512);
    assert!(s.jwt.secret.is_none(), "an empty secret is no secret");
}

/// The book's configuration reference, checked against the typed settings: every setting the
/// layers define is there with its development default, and every `APP__` variable it names is
/// one the settings read.
#[test]
fn the_configuration_reference_matches_the_typed_settings() {
    let reference = include_str!("../../../../docs/src/configuration.md");
    let documented: HashMap<String, String> = reference
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix('|')?.split('|').map(str::trim);
            let variable = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            let default = cells.next()?;
            variable
                .starts_with("APP__")
                .then(|| (variable.to_owned(), default.to_owned()))
        })
        .collect();
    let (_, config) = layered(&HashMap::new(), false).unwrap();
    let sections: HashMap<String, HashMap<String, config::Value>> =
        config.try_deserialize().unwrap();
    let mut defined = Vec::new();
    for (section, table) in sections {
        for (key, value) in table {
            let variable = format!("APP__{}__{}", section, key).to_uppercase();
            let value = value.into_string().unwrap();
            let expected = if value.is_empty() {
                "*unset*".to_owned()
            } else {
                format!("`{value}`")
            };
            assert_eq!(
                documented.get(&variable),
                Some(&expected),
                "docs/src/configuration.md: the row of {variable}"
            );
            defined.push(variable);
        }
    }
    // The two settings no file sets: a secret, and a count whose default is the machine's.
    for variable in ["APP__JWT__SECRET", "APP__PASSWORD__MAX_CONCURRENT_HASHES"] {
        assert!(
            documented.contains_key(variable),
            "{variable} is documented"
        );
    }
    for (variable, default) in &documented {
        if defined.contains(variable) {
            continue;
        }
        // Optional, with no default in the files: the settings must know the name.
        assert_eq!(default, "*unset*", "{variable} has no default in the files");
        if let Err(err) = load(&[(variable.as_str(), "")]) {
            assert!(
                !err.message.contains("unknown field"),
                "docs/src/configuration.md names {variable}, which no setting reads: {err}"
            );
        }
    }
}

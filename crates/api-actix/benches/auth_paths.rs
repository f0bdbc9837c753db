//! The domain's login and refresh paths over the in-memory adapter, with the real token codec and
//! hasher. bcrypt runs at cost 4 here, so that what is measured is everything but the hash
//! (whose own cost `infra-bcrypt`'s bench measures).

use std::sync::Arc;

use api_actix::clock::SystemClock;
use api_actix::config::Settings;
use api_actix::startup::{auth_policy, key_policy};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{AuthService, ClientInfo, KeyService, MfaPorts, NewUser, Ports};
use infra_bcrypt::BcryptHasher;
use infra_jwt::{JwtCodec, KeyPairs};
use infra_memory::MemoryStore;

const SECRET: &str = "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903";

fn service(runtime: &tokio::runtime::Runtime) -> AuthService {
    let secret = secrecy::SecretString::from(SECRET.to_owned());
    let ports = Ports {
        stores: MemoryStore::new().stores(),
        hasher: Arc::new(BcryptHasher::new(
            infra_bcrypt::Cost::try_from(4).unwrap(),
            std::num::NonZeroUsize::new(2).unwrap(),
            1024,
        )),
        tokens: Arc::new(JwtCodec::new(domain::KeyAlgorithm::ES256, SECRET.as_bytes()).unwrap()),
        key_generator: Arc::new(KeyPairs),
        clock: Arc::new(SystemClock),
        mfa: MfaPorts {
            codes: Arc::new(infra_totp::TotpCodes::new("auth-api")),
            sealer: Arc::new(infra_crypto::Sealer::from_secret(&secret)),
            fingerprints: Arc::new(infra_crypto::Fingerprinter::from_secret(&secret)),
        },
        pkce: Arc::new(infra_crypto::S256),
    };
    // The policies of `config/default.toml` (ES256), as the server builds them.
    let settings = Settings::from_vars(&Default::default(), false).unwrap();
    let keys = KeyService::new(ports.clone(), key_policy(&settings));
    runtime.block_on(keys.start()).unwrap();
    AuthService::new(ports, auth_policy(&settings))
}

fn paths(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let auth = service(&runtime);
    let client = ClientInfo::default();
    let registered = runtime
        .block_on(auth.register(
            NewUser {
                username: "bench_user".into(),
                email: "bench@example.com".into(),
                password: "correct-horse-1".into(),
                name: None,
            },
            &client,
        ))
        .unwrap();
    let domain::Registration::Tokens(registered) = registered else {
        panic!("the bench does not require verified addresses")
    };
    c.bench_function("domain/login", |b| {
        b.to_async(&runtime)
            .iter(|| auth.login("bench_user", "correct-horse-1", &client))
    });
    c.bench_function("domain/authenticate", |b| {
        b.to_async(&runtime)
            .iter(|| auth.authenticate(&registered.access_token, client.clone()))
    });
    // Each refresh rotates: carry the newest refresh token from one iteration to the next.
    let mut refresh = registered.refresh_token.clone();
    c.bench_function("domain/refresh", |b| {
        b.iter(|| {
            let issued = runtime.block_on(auth.refresh(&refresh, &client)).unwrap();
            refresh = issued.refresh_token;
        })
    });
}

criterion_group!(benches, paths);
criterion_main!(benches);

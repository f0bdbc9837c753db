//! Signing and checking access tokens with each algorithm.

use criterion::{Criterion, criterion_group, criterion_main};
use domain::{
    Claims, KeyAlgorithm, KeyGenerator, Keyring, LiveKey, Role, SharedSecretUse, TokenCodec,
    TokenType,
};
use infra_jwt::{JwtCodec, KeyPairs};
use uuid::Uuid;

const SECRET: &[u8] = b"9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903";

/// A codec signing with a fresh key of `algorithm` (or the secret, for HS256).
fn codec(runtime: &tokio::runtime::Runtime, algorithm: KeyAlgorithm) -> JwtCodec {
    let codec = JwtCodec::new(algorithm, SECRET).unwrap();
    let keyring = if algorithm.is_shared_secret() {
        Keyring {
            keys: Vec::new(),
            shared_secret: SharedSecretUse::Sign,
        }
    } else {
        let pair = runtime
            .block_on(KeyPairs.generate(algorithm, "bench"))
            .unwrap();
        Keyring {
            keys: vec![LiveKey {
                kid: "bench".into(),
                algorithm,
                public: pair.public,
                private_der: Some(pair.private_der),
            }],
            shared_secret: SharedSecretUse::Refuse,
        }
    };
    codec.install(keyring).unwrap();
    codec
}

fn tokens(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let claims = Claims {
        iss: "auth-api".into(),
        aud: "auth-api".into(),
        sub: Uuid::new_v4(),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: Uuid::new_v4(),
        sid: Some(Uuid::new_v4()),
        token_type: TokenType::Access,
        role: Some(Role::User),
        amr: vec!["pwd".into()],
        client_id: None,
        scope: None,
        azp: None,
    };
    for algorithm in [
        KeyAlgorithm::ES256,
        KeyAlgorithm::EdDSA,
        KeyAlgorithm::RS256,
        KeyAlgorithm::HS256,
    ] {
        let codec = codec(&runtime, algorithm);
        let name = algorithm.as_str();
        c.bench_function(&format!("jwt/{name}/sign"), |b| {
            b.iter(|| codec.encode(&claims).unwrap())
        });
        // A token seen for the first time: signature and claims are checked.
        c.bench_function(&format!("jwt/{name}/verify"), |b| {
            b.iter_batched(
                || {
                    let fresh = Claims {
                        jti: Uuid::new_v4(),
                        ..claims.clone()
                    };
                    codec.encode(&fresh).unwrap()
                },
                |fresh| codec.decode(&fresh).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        // The same access token again, as a client sends it with every request.
        let token = codec.encode(&claims).unwrap();
        codec.decode(&token).unwrap();
        c.bench_function(&format!("jwt/{name}/verify again"), |b| {
            b.iter(|| codec.decode(&token).unwrap())
        });
    }
}

criterion_group!(benches, tokens);
criterion_main!(benches);

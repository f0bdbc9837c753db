//! Signing and checking access tokens.

use criterion::{Criterion, criterion_group, criterion_main};
use domain::{Claims, Role, TokenCodec, TokenType};
use infra_jwt::JwtCodec;
use uuid::Uuid;

fn tokens(c: &mut Criterion) {
    let codec = JwtCodec::new(
        infra_jwt::SigningAlgorithm::HS256,
        b"9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903",
    )
    .unwrap();
    let claims = Claims {
        iss: "auth-api".into(),
        aud: "auth-api".into(),
        sub: Uuid::new_v4(),
        exp: 2_000_000_000,
        iat: 1_900_000_000,
        nbf: 1_900_000_000,
        jti: Uuid::new_v4(),
        sid: Uuid::new_v4(),
        token_type: TokenType::Access,
        role: Some(Role::User),
        amr: vec!["pwd".into()],
    };
    let token = codec.encode(&claims).unwrap();
    c.bench_function("jwt/issue", |b| b.iter(|| codec.encode(&claims).unwrap()));
    // A token seen for the first time: signature and claims are checked.
    c.bench_function("jwt/verify", |b| {
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
    codec.decode(&token).unwrap();
    c.bench_function("jwt/verify again", |b| {
        b.iter(|| codec.decode(&token).unwrap())
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);

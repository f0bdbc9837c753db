use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Claims, Role, TokenCodec, TokenRejection, TokenType};
use uuid::Uuid;

use super::{JwtCodec, JwtConfigError, SigningAlgorithm};

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

fn claims() -> Claims {
    Claims {
        iss: "auth-api".into(),
        aud: "auth-api".into(),
        sub: Uuid::new_v4(),
        exp: 1,
        iat: 0,
        nbf: 0,
        jti: Uuid::new_v4(),
        sid: Uuid::new_v4(),
        token_type: TokenType::Access,
        role: Some(Role::User),
        amr: vec!["pwd".into()],
    }
}

fn codec() -> JwtCodec {
    JwtCodec::new(SigningAlgorithm::HS256, SECRET).unwrap()
}

#[test]
fn a_token_round_trips_its_claims_whatever_its_times() {
    // Time is the domain's to judge: an expired token still decodes here.
    let c = claims();
    let token = codec().encode(&c).unwrap();
    assert_eq!(codec().decode(&token), Ok(c));
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
}

#[test]
fn the_claims_carry_the_contracts_names() {
    let token = codec().encode(&claims()).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for name in [
        "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "type", "role",
    ] {
        assert!(payload.get(name).is_some(), "{name} missing");
    }
    assert_eq!(payload["type"], "access");
}

#[test]
fn another_secret_or_a_tampered_payload_is_refused() {
    let token = codec().encode(&claims()).unwrap();
    let other = JwtCodec::new(
        SigningAlgorithm::HS256,
        b"another-secret-of-32-bytes-or-more",
    )
    .unwrap();
    assert_eq!(other.decode(&token), Err(TokenRejection::Invalid));

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["role"] = "admin".into();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    assert_eq!(
        codec().decode(&parts.join(".")),
        Err(TokenRejection::Invalid)
    );
}

#[test]
fn a_verified_token_answers_again_and_its_tampered_copies_are_still_refused() {
    let codec = codec();
    let c = claims();
    let token = codec.encode(&c).unwrap();
    assert_eq!(codec.decode(&token), Ok(c.clone()));
    assert_eq!(codec.decode(&token), Ok(c));

    let (unsigned, signature) = token.rsplit_once('.').unwrap();
    let mut forged = signature.to_owned();
    forged.replace_range(..1, if forged.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        codec.decode(&format!("{unsigned}.{forged}")),
        Err(TokenRejection::Invalid)
    );
    assert_eq!(
        codec.decode(&format!("{token}x")),
        Err(TokenRejection::Invalid)
    );
    let other = JwtCodec::new(
        SigningAlgorithm::HS256,
        b"another-secret-of-32-bytes-or-more",
    )
    .unwrap();
    assert_eq!(other.decode(&token), Err(TokenRejection::Invalid));
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let token = codec().encode(&claims()).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        codec().decode(&format!("{none_header}.{payload}.")),
        Err(TokenRejection::Invalid)
    );
    let hs512 = JwtCodec::new(SigningAlgorithm::HS512, SECRET)
        .unwrap()
        .encode(&claims())
        .unwrap();
    assert_eq!(codec().decode(&hs512), Err(TokenRejection::Invalid));
}

#[test]
fn garbage_is_refused() {
    for garbage in ["", "abc", "a.b.c", "....", "é.é.é"] {
        assert_eq!(codec().decode(garbage), Err(TokenRejection::Invalid));
    }
}

#[test]
fn configuration_is_checked() {
    assert!(matches!(
        JwtCodec::new(SigningAlgorithm::HS256, b""),
        Err(JwtConfigError::EmptySecret)
    ));
}

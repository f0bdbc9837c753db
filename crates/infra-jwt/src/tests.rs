use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{
    Claims, KeyAlgorithm, KeyGenerator, KeyPair, Keyring, LiveKey, Role, SharedSecretUse,
    TokenCodec, TokenRejection, TokenType,
};
use jsonwebtoken::{EncodingKey, Header};
use uuid::Uuid;

use super::{JwtCodec, JwtConfigError, KeyPairs, algorithm};

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
        sid: Some(Uuid::new_v4()),
        token_type: TokenType::Access,
        role: Some(Role::User),
        amr: vec!["pwd".into()],
        client_id: None,
        scope: None,
        azp: None,
    }
}

fn pair(algorithm: KeyAlgorithm, kid: &str) -> KeyPair {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(KeyPairs.generate(algorithm, kid))
        .unwrap()
}

fn live(kid: &str, algorithm: KeyAlgorithm, pair: &KeyPair, signs: bool) -> LiveKey {
    LiveKey {
        kid: kid.into(),
        algorithm,
        public: pair.public.clone(),
        private_der: signs.then(|| pair.private_der.clone()),
    }
}

/// HS256 with `SECRET`, as a server in HMAC mode runs it.
fn codec() -> JwtCodec {
    shared(KeyAlgorithm::HS256, SECRET, SharedSecretUse::Sign)
}

fn shared(algorithm: KeyAlgorithm, secret: &[u8], usage: SharedSecretUse) -> JwtCodec {
    let codec = JwtCodec::new(algorithm, secret).unwrap();
    codec
        .install(Keyring {
            keys: Vec::new(),
            shared_secret: usage,
        })
        .unwrap();
    codec
}

fn signing_with(keys: Vec<LiveKey>, usage: SharedSecretUse) -> JwtCodec {
    let codec = JwtCodec::new(keys[0].algorithm, SECRET).unwrap();
    codec
        .install(Keyring {
            keys,
            shared_secret: usage,
        })
        .unwrap();
    codec
}

fn header_of(token: &str) -> serde_json::Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[test]
fn a_token_round_trips_its_claims_whatever_its_times() {
    // Time is the domain's to judge: an expired token still decodes here.
    let c = claims();
    let token = codec().encode(&c).unwrap();
    assert_eq!(codec().decode(&token), Ok(c));
    let header = header_of(&token);
    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].as_str().unwrap().starts_with("hs-"));
}

#[test]
fn each_key_pair_signs_with_its_kid_and_verifies() {
    for algorithm in [
        KeyAlgorithm::ES256,
        KeyAlgorithm::EdDSA,
        KeyAlgorithm::RS256,
    ] {
        let key = pair(algorithm, "k1");
        let codec = signing_with(
            vec![live("k1", algorithm, &key, true)],
            SharedSecretUse::Refuse,
        );
        let c = claims();
        let token = codec.encode(&c).unwrap();
        let header = header_of(&token);
        assert_eq!(header["alg"], algorithm.as_str());
        assert_eq!(header["kid"], "k1");
        assert_eq!(codec.decode(&token), Ok(c), "{algorithm:?}");

        // A verifier holding only the public half (a `previous` key) accepts it too.
        let verifier = signing_with(
            vec![live("k1", algorithm, &key, false)],
            SharedSecretUse::Refuse,
        );
        assert!(verifier.decode(&token).is_ok());
        assert!(verifier.encode(&claims()).is_err(), "nothing signs");
    }
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
    assert!(payload.get("client_id").is_none());
    assert_eq!(payload["type"], "access");
}

#[test]
fn another_key_or_a_tampered_payload_is_refused() {
    let token = codec().encode(&claims()).unwrap();
    // Another secret has another kid: a key this codec does not know.
    let other = shared(
        KeyAlgorithm::HS256,
        b"another-secret-of-32-bytes-or-more",
        SharedSecretUse::Sign,
    );
    assert_eq!(other.decode(&token), Err(TokenRejection::UnknownKey));

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
}

#[test]
fn a_new_keyring_forgets_what_the_old_one_verified() {
    let key = pair(KeyAlgorithm::ES256, "old");
    let codec = signing_with(
        vec![live("old", KeyAlgorithm::ES256, &key, true)],
        SharedSecretUse::Refuse,
    );
    let token = codec.encode(&claims()).unwrap();
    assert!(codec.decode(&token).is_ok());
    // "old" retired: no longer in the keyring.
    let newer = pair(KeyAlgorithm::ES256, "new");
    codec
        .install(Keyring {
            keys: vec![live("new", KeyAlgorithm::ES256, &newer, true)],
            shared_secret: SharedSecretUse::Refuse,
        })
        .unwrap();
    assert_eq!(codec.decode(&token), Err(TokenRejection::UnknownKey));
    assert_eq!(header_of(&codec.encode(&claims()).unwrap())["kid"], "new");
}

#[test]
fn a_public_key_used_as_an_hmac_secret_is_refused() {
    let key = pair(KeyAlgorithm::ES256, "es");
    let codec = signing_with(
        vec![live("es", KeyAlgorithm::ES256, &key, true)],
        SharedSecretUse::Refuse,
    );
    let public = serde_json::to_vec(&key.public).unwrap();
    let x = URL_SAFE_NO_PAD
        .decode(key.public.x.as_ref().unwrap())
        .unwrap();
    for secret in [public, x] {
        for kid in [Some("es".to_owned()), None] {
            let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = kid;
            let forged =
                jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret))
                    .unwrap();
            assert_eq!(codec.decode(&forged), Err(TokenRejection::Invalid));
        }
    }
}

#[test]
fn headers_that_point_at_a_key_are_refused_even_well_signed() {
    let key = pair(KeyAlgorithm::ES256, "es");
    let codec = signing_with(
        vec![live("es", KeyAlgorithm::ES256, &key, true)],
        SharedSecretUse::Refuse,
    );
    let signing = EncodingKey::from_ec_der(&key.private_der);
    let pointing: [fn(&mut Header); 5] = [
        // Not a pointer, but an extension this service would have to understand: refused.
        |h| h.crit = Some(vec!["exp".into()]),
        |h| h.jku = Some("https://evil.example/jwks.json".into()),
        |h| h.x5u = Some("https://evil.example/cert.pem".into()),
        |h| h.x5c = Some(vec!["MIIB".into()]),
        |h| {
            h.jwk = Some(
                serde_json::from_value(serde_json::json!({
                    "kty": "oct", "k": "c2VjcmV0"
                }))
                .unwrap(),
            )
        },
    ];
    for point in pointing {
        let mut header = Header::new(algorithm(KeyAlgorithm::ES256));
        header.kid = Some("es".into());
        point(&mut header);
        let token = jsonwebtoken::encode(&header, &claims(), &signing).unwrap();
        assert_eq!(codec.decode(&token), Err(TokenRejection::Invalid));
    }
}

#[test]
fn hmac_tokens_after_a_move_to_key_pairs_verify_only_if_issued_before_it() {
    let legacy = codec();
    let mut before = claims();
    before.iat = 999;
    let mut after = claims();
    after.iat = 1000;
    let (before_token, after_token) = (
        legacy.encode(&before).unwrap(),
        legacy.encode(&after).unwrap(),
    );
    // Tokens from before kids (no `kid` header) are the shared secret's too.
    let kidless = jsonwebtoken::encode(
        &Header::default(),
        &before,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();

    let key = pair(KeyAlgorithm::EdDSA, "ed");
    let moved = signing_with(
        vec![live("ed", KeyAlgorithm::EdDSA, &key, true)],
        SharedSecretUse::AcceptIssuedBefore(1000),
    );
    assert_eq!(moved.decode(&before_token), Ok(before.clone()));
    assert_eq!(moved.decode(&kidless), Ok(before.clone()));
    // Whichever HS algorithm the deployment signed with (each needs the secret).
    let hs512 = shared(KeyAlgorithm::HS512, SECRET, SharedSecretUse::Sign)
        .encode(&before)
        .unwrap();
    assert_eq!(moved.decode(&hs512), Ok(before));
    assert_eq!(moved.decode(&after_token), Err(TokenRejection::Invalid));
    assert_eq!(header_of(&moved.encode(&claims()).unwrap())["alg"], "EdDSA");

    let done = signing_with(
        vec![live("ed", KeyAlgorithm::EdDSA, &key, true)],
        SharedSecretUse::Refuse,
    );
    assert_eq!(done.decode(&before_token), Err(TokenRejection::Invalid));
    assert_eq!(done.decode(&kidless), Err(TokenRejection::Invalid));
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
    // The same secret under HS512 has the same kid but not its algorithm.
    let hs512 = jsonwebtoken::encode(
        &Header {
            kid: header_of(&token)["kid"].as_str().map(str::to_owned),
            ..Header::new(jsonwebtoken::Algorithm::HS512)
        },
        &claims(),
        &EncodingKey::from_secret(SECRET),
    )
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
        JwtCodec::new(KeyAlgorithm::HS256, b""),
        Err(JwtConfigError::EmptySecret)
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever the key and its kid, only public members are ever serialized.
    #[test]
    fn a_public_jwk_never_holds_private_or_symmetric_material(
        which in 0..3usize,
        kid in "[ -~]{1,40}",
    ) {
        let algorithm = [KeyAlgorithm::ES256, KeyAlgorithm::EdDSA, KeyAlgorithm::RS256][which];
        let key = pair(algorithm, &kid);
        let jwk = serde_json::to_value(&key.public).unwrap();
        let public_members = ["kty", "kid", "alg", "use", "crv", "x", "y", "n", "e"];
        for member in jwk.as_object().unwrap().keys() {
            proptest::prop_assert!(public_members.contains(&member.as_str()), "{}", member);
        }
        proptest::prop_assert_ne!(&jwk["kty"], "oct");
        proptest::prop_assert_eq!(&jwk["kid"], kid.as_str());
    }
}

#[test]
fn no_key_pair_is_made_for_a_shared_secret() {
    let shared = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(KeyPairs.generate(KeyAlgorithm::HS256, "hs"));
    assert!(shared.is_err());
}

#[test]
fn a_keyring_of_key_pairs_alone_refuses_every_shared_secret_token() {
    // A fresh ES256 installation: the domain installs no use of the secret.
    let key = pair(KeyAlgorithm::ES256, "es");
    let fresh = signing_with(
        vec![live("es", KeyAlgorithm::ES256, &key, true)],
        SharedSecretUse::Refuse,
    );
    for hs in [
        KeyAlgorithm::HS256,
        KeyAlgorithm::HS384,
        KeyAlgorithm::HS512,
    ] {
        let signed = shared(hs, SECRET, SharedSecretUse::Sign)
            .encode(&claims())
            .unwrap();
        assert_eq!(
            fresh.decode(&signed),
            Err(TokenRejection::Invalid),
            "{hs:?}"
        );
        let mut header = Header::new(algorithm(hs));
        for kid in [None, Some("es".to_owned())] {
            header.kid = kid;
            let forged =
                jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(SECRET))
                    .unwrap();
            assert_eq!(fresh.decode(&forged), Err(TokenRejection::Invalid));
        }
    }
}

#[test]
fn a_lifetime_longer_than_any_token_of_this_service_is_refused() {
    let codec = codec().with_max_lifetime(3600);
    let mut c = claims();
    c.iat = 1_000;
    c.exp = 1_000 + 3600;
    let fine = codec.encode(&c).unwrap();
    assert_eq!(codec.decode(&fine), Ok(c.clone()));
    c.exp += 1;
    let far = codec.encode(&c).unwrap();
    assert_eq!(codec.decode(&far), Err(TokenRejection::Invalid));
    c.exp = i64::MAX;
    c.iat = i64::MIN;
    let absurd = codec.encode(&c).unwrap();
    assert_eq!(codec.decode(&absurd), Err(TokenRejection::Invalid));
}

"""The server driven by standard clients nobody here wrote: PyJWT verifies tokens from the JWK set
the discovery document names, and Authlib speaks OAuth 2.0 to the token, introspection and
revocation endpoints (RFC 6749, 7662, 7009, 8414) the way third-party services will.

Environment:
  AUTH_API_URL                     the server's base URL, exactly as it is configured as
                                   APP__SERVER__PUBLIC_URL (so also the tokens' issuer)
  ADMIN_USERNAME, ADMIN_PASSWORD   an admin that exists

The server must run with rate limits off (APP__RATE_LIMIT__ENABLED=false: this is one client
sending many logins) and with APP__JWT__REFRESH_REUSE_GRACE_SECONDS=0: with the default grace of
10 s a refresh token presented again right after its rotation is a "benign race" that gets a fresh
pair, and the rotation tests below expect any second use to be refused. .ci/clients/run starts it
so. No test here turns MFA on.
"""

import base64
import json
import os
import secrets
from dataclasses import dataclass

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from jwt import PyJWKClient


def _env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"set {name} (see the module's docstring)")
    return value


ISSUER = _env("AUTH_API_URL")
BASE = ISSUER.rstrip("/")
ADMIN_USERNAME = _env("ADMIN_USERNAME")
ADMIN_PASSWORD = _env("ADMIN_PASSWORD")
AUDIENCE = "auth-api"
TIMEOUT = 30
# Authlib sends a client without a secret in the form (auth method "none"), as a public client
# does; the server knows it only if an admin registered it (see public_client_id).
_PUBLIC_CLIENT = {}
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


# ---------------------------------------------------------------------------------------------
# Helpers


@dataclass
class User:
    id: str
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str


def register_user():
    """A fresh user, registered through the JSON API (201 and a token response)."""
    username = "ci_" + secrets.token_hex(8)
    email = f"{username}@example.com"
    password = "Ci-passw0rd-" + secrets.token_hex(4)
    resp = requests.post(
        f"{BASE}/api/auth/register",
        json={"username": username, "email": email, "password": password},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["access_token"] and body["refresh_token"], body
    return User(
        id=body["user"]["id"],
        username=username,
        email=email,
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def tamper(token):
    """The same token with one claim of its payload changed and the signature left as it was."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    claims["exp"] = claims.get("exp", 0) + 3600
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{forged.rstrip(b'=').decode()}.{signature}"


def unsigned(token):
    """The token's claims under `alg: none` and no signature."""
    claims = jwt.decode(token, options={"verify_signature": False})
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}."


def assert_problem(resp, status, code):
    assert resp.status_code == status, resp.text
    assert resp.headers.get("Content-Type", "").startswith("application/problem+json"), resp.headers
    assert resp.json()["code"] == code, resp.text


def assert_oauth_error(excinfo, error):
    assert excinfo.value.error == error, f"{excinfo.value!r}: {excinfo.value.description}"


def assert_invalid_client(resp):
    assert resp.status_code == 401, resp.text
    assert resp.headers.get("WWW-Authenticate", "").lower().startswith("basic"), resp.headers
    assert resp.json()["error"] == "invalid_client", resp.text


def public_client_id():
    """A public, first-party client that an admin allowed the password grant (RFC 9700 says an
    app MUST NOT use it; one that still must, is registered so), made once."""
    if "id" not in _PUBLIC_CLIENT:
        login = requests.post(
            f"{BASE}/api/auth/login",
            json={"login": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
            timeout=TIMEOUT,
        )
        assert login.status_code == 200, login.text
        resp = requests.post(
            f"{BASE}/api/admin/clients",
            json={
                "name": "standard-clients-ci",
                "kind": "public",
                "first_party": True,
                "allow_password_grant": True,
                "redirect_uris": ["http://127.0.0.1/callback"],
            },
            headers=bearer(login.json()["access_token"]),
            timeout=TIMEOUT,
        )
        assert resp.status_code == 201, resp.text
        assert "client_secret" not in resp.json(), resp.text
        _PUBLIC_CLIENT["id"] = resp.json()["client_id"]
    return _PUBLIC_CLIENT["id"]


def public_session():
    """An OAuth client with no secret, as a first-party app using the password grant is."""
    return OAuth2Session(client_id=public_client_id())


def client_session(client, method="client_secret_basic"):
    return OAuth2Session(
        client["client_id"], client["client_secret"], token_endpoint_auth_method=method
    )


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def meta():
    resp = requests.get(f"{BASE}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def jwks_client(meta):
    return PyJWKClient(meta["jwks_uri"], cache_jwk_set=False)


@pytest.fixture(scope="module")
def admin():
    resp = requests.post(
        f"{BASE}/api/auth/login",
        json={"login": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["role"] == "admin", resp.text
    return bearer(resp.json()["access_token"])


def create_client(admin, name):
    resp = requests.post(
        f"{BASE}/api/admin/clients", json={"name": name}, headers=admin, timeout=TIMEOUT
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert {"client_id", "client_secret", "name", "created_at"} <= body.keys(), body
    assert body["name"] == name
    assert body["client_id"] and body["client_secret"]
    return body


@pytest.fixture(scope="module")
def service_client(admin):
    return create_client(admin, "ci-client")


@pytest.fixture(scope="module")
def introspector(service_client):
    """Authlib, authenticating to the introspection endpoint as the service client (Basic)."""
    return client_session(service_client)


def verify(jwks_client, token):
    """PyJWT's verification as any resource server would do it: the key from the JWK set by
    `kid`, the algorithm that JWK names, our audience and issuer."""
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=[signing_key.algorithm_name],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    ), header, signing_key


def introspect(session, meta, token, hint=None):
    resp = session.introspect_token(
        meta["introspection_endpoint"], token=token, token_type_hint=hint, timeout=TIMEOUT
    )
    assert resp.status_code == 200, resp.text
    assert "no-store" in resp.headers.get("Cache-Control", ""), resp.headers
    return resp.json()


def assert_inactive(session, meta, token, why):
    body = introspect(session, meta, token)
    assert body == {"active": False}, f"{why}: {body}"


# ---------------------------------------------------------------------------------------------
# 1. Discovery (RFC 8414)


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_documents(path):
    resp = requests.get(f"{BASE}{path}", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == f"{BASE}/.well-known/jwks.json"
    assert doc["token_endpoint"] == f"{BASE}/oauth/token"
    assert doc["introspection_endpoint"] == f"{BASE}/oauth/introspect"
    assert doc["revocation_endpoint"] == f"{BASE}/oauth/revoke"
    assert {"password", "refresh_token", "client_credentials"} <= set(doc["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(
        doc["token_endpoint_auth_methods_supported"]
    )
    # The code flow, with PKCE S256 only, and the issuer in every authorization response.
    assert doc["authorization_endpoint"] == f"{BASE}/oauth/authorize"
    assert "authorization_code" in doc["grant_types_supported"], doc
    assert doc["response_types_supported"] == ["code"], doc
    assert doc["code_challenge_methods_supported"] == ["S256"], doc
    assert doc["authorization_response_iss_parameter_supported"] is True, doc


# ---------------------------------------------------------------------------------------------
# 2. JWKS and PyJWT


def test_jwks_publishes_public_signing_keys_only(meta):
    resp = requests.get(meta["jwks_uri"], timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert "max-age" in resp.headers.get("Cache-Control", ""), resp.headers
    keys = resp.json()["keys"]
    assert keys, "no public key published (is the server in an HS mode?)"
    for key in keys:
        assert not PRIVATE_JWK_MEMBERS & key.keys(), f"private or symmetric material: {key}"
        for member in ("kid", "kty", "alg"):
            assert key.get(member), f"{member} missing: {key}"
        assert key["use"] == "sig", key
        assert key["kty"] != "oct", key
    kids = [key["kid"] for key in keys]
    assert len(kids) == len(set(kids)), kids


def test_pyjwt_verifies_an_access_token_from_the_jwks(meta, jwks_client):
    user = register_user()
    claims, header, signing_key = verify(jwks_client, user.access_token)

    published = {key["kid"]: key for key in requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()["keys"]}
    assert header["kid"] in published
    assert header["alg"] == published[header["kid"]]["alg"] == signing_key.algorithm_name
    assert claims["sub"] == user.id
    assert claims["sid"] and claims["jti"]
    assert claims["type"] == "access"
    assert claims["role"] == "user"
    assert claims["iss"] == ISSUER

    # The refresh token verifies with the same keys and says what it is.
    refresh_claims, _, _ = verify(jwks_client, user.refresh_token)
    assert refresh_claims["type"] == "refresh"
    assert refresh_claims["sid"] == claims["sid"]


def test_pyjwt_refuses_a_token_whose_payload_was_changed(jwks_client):
    user = register_user()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(jwks_client, tamper(user.access_token))


# ---------------------------------------------------------------------------------------------
# 3. Password and refresh_token grants with Authlib


def test_password_grant_and_refresh_rotation(meta, introspector):
    user = register_user()
    session = public_session()
    token = session.fetch_token(
        meta["token_endpoint"],
        username=user.username,
        password=user.password,
        grant_type="password",
        timeout=TIMEOUT,
    )
    assert token["access_token"] and token["refresh_token"], token
    assert token["token_type"] == "Bearer"
    assert isinstance(token["expires_in"], int) and token["expires_in"] > 0, token

    old_refresh = token["refresh_token"]
    renewed = session.refresh_token(
        meta["token_endpoint"], refresh_token=old_refresh, timeout=TIMEOUT
    )
    # Authlib keeps the old refresh token when the answer has none: a new one must be there.
    assert renewed["refresh_token"] != old_refresh, "no rotation"
    assert renewed["access_token"] != token["access_token"]
    assert renewed["token_type"] == "Bearer"
    assert introspect(introspector, meta, renewed["access_token"])["active"] is True

    # Used again (no reuse grace in CI: APP__JWT__REFRESH_REUSE_GRACE_SECONDS=0) it is refused...
    with pytest.raises(OAuthError) as excinfo:
        session.refresh_token(meta["token_endpoint"], refresh_token=old_refresh, timeout=TIMEOUT)
    assert_oauth_error(excinfo, "invalid_grant")
    # ...and the reuse revoked the whole session: the new pair is dead too.
    with pytest.raises(OAuthError) as excinfo:
        session.refresh_token(
            meta["token_endpoint"], refresh_token=renewed["refresh_token"], timeout=TIMEOUT
        )
    assert_oauth_error(excinfo, "invalid_grant")
    assert_inactive(introspector, meta, renewed["access_token"], "access token of a reused session")


def test_password_grant_takes_an_email_as_username(meta):
    user = register_user()
    token = public_session().fetch_token(
        meta["token_endpoint"],
        username=user.email,
        password=user.password,
        grant_type="password",
        timeout=TIMEOUT,
    )
    assert token["access_token"] and token["refresh_token"], token


def test_password_grant_errors(meta):
    user = register_user()
    session = public_session()
    with pytest.raises(OAuthError) as excinfo:
        session.fetch_token(
            meta["token_endpoint"],
            username=user.username,
            password=user.password + "-wrong",
            grant_type="password",
            timeout=TIMEOUT,
        )
    assert_oauth_error(excinfo, "invalid_grant")

    with pytest.raises(OAuthError) as excinfo:
        session.fetch_token(
            meta["token_endpoint"],
            grant_type="urn:ietf:params:oauth:grant-type:device_code",
            device_code="whatever",
            timeout=TIMEOUT,
        )
    assert_oauth_error(excinfo, "unsupported_grant_type")

    # The same two as plain HTTP: RFC 6749 §5.2 says 400 with a JSON body.
    for data, error in [
        ({"grant_type": "password", "username": user.username, "password": "Wr0ng-password"}, "invalid_grant"),
        ({"grant_type": "implicit", "code": "x"}, "unsupported_grant_type"),
    ]:
        resp = requests.post(meta["token_endpoint"], data=data, timeout=TIMEOUT)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == error, resp.text


def test_a_client_id_alone_must_name_a_registered_public_client(meta):
    user = register_user()
    with pytest.raises(OAuthError) as excinfo:
        OAuth2Session(client_id="made-up-client").fetch_token(
            meta["token_endpoint"],
            username=user.username,
            password=user.password,
            grant_type="password",
            timeout=TIMEOUT,
        )
    assert_oauth_error(excinfo, "invalid_client")


def test_password_grant_as_json(meta):
    user = register_user()
    resp = requests.post(
        meta["token_endpoint"],
        json={"grant_type": "password", "username": user.username, "password": user.password},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    assert "no-store" in resp.headers.get("Cache-Control", ""), resp.headers
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"] and body["expires_in"] > 0, body


# ---------------------------------------------------------------------------------------------
# 4. Service clients and the client_credentials grant


def test_admin_lists_clients_without_secrets(admin, service_client):
    resp = requests.get(f"{BASE}/api/admin/clients", headers=admin, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    items = body["items"] if isinstance(body, dict) else body
    listed = [c for c in items if c["client_id"] == service_client["client_id"]]
    assert len(listed) == 1, items
    assert listed[0]["name"] == "ci-client"
    assert "client_secret" not in listed[0], listed[0]
    assert service_client["client_secret"] not in resp.text


def test_clients_are_admin_only(service_client):
    user = register_user()
    resp = requests.get(f"{BASE}/api/admin/clients", headers=bearer(user.access_token), timeout=TIMEOUT)
    assert_problem(resp, 403, "forbidden")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_grant(meta, jwks_client, service_client, method):
    token = client_session(service_client, method).fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT
    )
    assert token["access_token"], token
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] > 0, token
    assert "refresh_token" not in token, token

    claims, _, _ = verify(jwks_client, token["access_token"])
    assert claims["sub"] == service_client["client_id"]
    assert claims["client_id"] == service_client["client_id"]
    assert "role" not in claims, claims

    # A machine account is no user.
    resp = requests.get(f"{BASE}/api/auth/me", headers=bearer(token["access_token"]), timeout=TIMEOUT)
    assert_problem(resp, 403, "forbidden")


def test_client_credentials_with_a_wrong_secret(meta, service_client):
    wrong = dict(service_client, client_secret=service_client["client_secret"][:-4] + "0000")
    if wrong["client_secret"] == service_client["client_secret"]:
        wrong["client_secret"] += "x"
    with pytest.raises(OAuthError) as excinfo:
        client_session(wrong).fetch_token(
            meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT
        )
    assert_oauth_error(excinfo, "invalid_client")

    resp = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(wrong["client_id"], wrong["client_secret"]),
        timeout=TIMEOUT,
    )
    assert_invalid_client(resp)
    # And with no client at all, client_credentials cannot be granted.
    resp = requests.post(
        meta["token_endpoint"], data={"grant_type": "client_credentials"}, timeout=TIMEOUT
    )
    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["error"] in ("invalid_client", "invalid_request", "unauthorized_client"), resp.text


# ---------------------------------------------------------------------------------------------
# 5. Introspection (RFC 7662)


def test_introspection_of_live_tokens(meta, jwks_client, introspector):
    user = register_user()
    claims, _, _ = verify(jwks_client, user.access_token)

    live = introspect(introspector, meta, user.access_token, "access_token")
    assert live["active"] is True, live
    assert live["sub"] == user.id
    assert live["jti"] == claims["jti"]
    assert live["sid"] == claims["sid"]
    assert live["iat"] == claims["iat"] and live["exp"] == claims["exp"]
    assert live["iss"] == ISSUER
    assert live["aud"] == AUDIENCE or AUDIENCE in live["aud"], live
    assert live["token_type"] == "access_token"
    assert live["username"] == user.username
    assert live["role"] == "user"

    refresh = introspect(introspector, meta, user.refresh_token, "refresh_token")
    assert refresh["active"] is True, refresh
    assert refresh["token_type"] == "refresh_token"
    assert refresh["sub"] == user.id and refresh["sid"] == claims["sid"]

    # The hint is only a hint.
    assert introspect(introspector, meta, user.access_token, "refresh_token")["active"] is True


def test_introspection_with_client_secret_post(meta, service_client):
    user = register_user()
    resp = requests.post(
        meta["introspection_endpoint"],
        data={
            "token": user.access_token,
            "client_id": service_client["client_id"],
            "client_secret": service_client["client_secret"],
        },
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is True, resp.text


def test_introspection_of_junk(meta, introspector):
    user = register_user()
    for junk, why in [
        ("not-a-token", "garbage"),
        ("a.b.c", "three garbage segments"),
        (tamper(user.access_token), "a tampered token"),
        (unsigned(user.access_token), "an alg-none token"),
    ]:
        assert_inactive(introspector, meta, junk, why)


def test_introspection_after_logout(meta, introspector):
    user = register_user()
    resp = requests.post(f"{BASE}/api/auth/logout", headers=bearer(user.access_token), timeout=TIMEOUT)
    assert resp.status_code == 204, resp.text
    assert_inactive(introspector, meta, user.access_token, "a logged-out session's access token")
    assert_inactive(introspector, meta, user.refresh_token, "a logged-out session's refresh token")


def test_introspection_of_a_used_refresh_token(meta, introspector):
    user = register_user()
    # Registered over the JSON API, its refresh token belongs to no client: refreshed by none.
    resp = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": user.refresh_token},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    renewed = resp.json()
    assert renewed["refresh_token"] != user.refresh_token
    assert_inactive(introspector, meta, user.refresh_token, "a used refresh token")
    # Introspection only reads: looking at the used token did not count as its reuse.
    assert introspect(introspector, meta, renewed["refresh_token"])["active"] is True
    assert introspect(introspector, meta, renewed["access_token"])["active"] is True


def test_introspection_of_a_deactivated_user(meta, admin, introspector):
    user = register_user()
    assert introspect(introspector, meta, user.access_token)["active"] is True
    resp = requests.patch(
        f"{BASE}/api/users/{user.id}", json={"is_active": False}, headers=admin, timeout=TIMEOUT
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["is_active"] is False
    assert_inactive(introspector, meta, user.access_token, "a deactivated user's access token")
    assert_inactive(introspector, meta, user.refresh_token, "a deactivated user's refresh token")


def test_introspection_of_a_deleted_user(meta, admin, introspector):
    user = register_user()
    assert introspect(introspector, meta, user.access_token)["active"] is True
    resp = requests.delete(f"{BASE}/api/users/{user.id}", headers=admin, timeout=TIMEOUT)
    assert resp.status_code == 204, resp.text
    assert_inactive(introspector, meta, user.access_token, "a deleted user's access token")
    assert_inactive(introspector, meta, user.refresh_token, "a deleted user's refresh token")


def test_introspection_of_a_deleted_clients_token(meta, admin):
    doomed = create_client(admin, "ci-client-doomed")
    watcher = client_session(create_client(admin, "ci-client-introspector"))
    token = client_session(doomed).fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT
    )
    # A client's own token is described to that client only (contract section 17).
    assert introspect(watcher, meta, token["access_token"]) == {"active": False}
    live = introspect(client_session(doomed), meta, token["access_token"])
    assert live["active"] is True, live
    assert live["sub"] == doomed["client_id"] and live["client_id"] == doomed["client_id"], live
    assert live["token_type"] == "access_token"
    assert "role" not in live and "username" not in live, live

    resp = requests.delete(
        f"{BASE}/api/admin/clients/{doomed['client_id']}", headers=admin, timeout=TIMEOUT
    )
    assert resp.status_code == 204, resp.text
    assert_inactive(watcher, meta, token["access_token"], "a deleted client's token")
    # Its credentials died with it.
    with pytest.raises(OAuthError) as excinfo:
        client_session(doomed).fetch_token(
            meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT
        )
    assert_oauth_error(excinfo, "invalid_client")


def test_introspection_needs_client_credentials(meta, service_client):
    user = register_user()
    resp = requests.post(
        meta["introspection_endpoint"], data={"token": user.access_token}, timeout=TIMEOUT
    )
    assert_invalid_client(resp)
    resp = requests.post(
        meta["introspection_endpoint"],
        data={"token": user.access_token},
        auth=(service_client["client_id"], "wrong-" + service_client["client_secret"]),
        timeout=TIMEOUT,
    )
    assert_invalid_client(resp)
    # A user is no client: its bearer token does not open introspection either.
    resp = requests.post(
        meta["introspection_endpoint"],
        data={"token": user.access_token},
        headers=bearer(user.access_token),
        timeout=TIMEOUT,
    )
    assert_invalid_client(resp)


# ---------------------------------------------------------------------------------------------
# 6. Revocation (RFC 7009)


def test_revoking_an_access_token_ends_its_session(meta, introspector):
    user = register_user()
    session = public_session()
    token = session.fetch_token(
        meta["token_endpoint"],
        username=user.username,
        password=user.password,
        grant_type="password",
        timeout=TIMEOUT,
    )
    resp = session.revoke_token(
        meta["revocation_endpoint"],
        token=token["access_token"],
        token_type_hint="access_token",
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    assert_inactive(introspector, meta, token["access_token"], "a revoked access token")
    assert_inactive(introspector, meta, token["refresh_token"], "the refresh token of a revoked session")
    # Other sessions of the user live on.
    assert introspect(introspector, meta, user.access_token)["active"] is True


def test_revoking_a_refresh_token(meta, introspector):
    user = register_user()
    session = public_session()
    resp = session.revoke_token(
        meta["revocation_endpoint"],
        token=user.refresh_token,
        token_type_hint="refresh_token",
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    assert_inactive(introspector, meta, user.refresh_token, "a revoked refresh token")
    assert_inactive(introspector, meta, user.access_token, "the access token of a revoked session")
    with pytest.raises(OAuthError) as excinfo:
        session.refresh_token(meta["token_endpoint"], refresh_token=user.refresh_token, timeout=TIMEOUT)
    assert_oauth_error(excinfo, "invalid_grant")


def test_revoking_junk_is_fine(meta, service_client):
    # RFC 7009 §2.2: an invalid token is no error; a confidential client may authenticate.
    resp = client_session(service_client).revoke_token(
        meta["revocation_endpoint"], token="not-a-token", timeout=TIMEOUT
    )
    assert resp.status_code == 200, resp.text
    resp = public_session().revoke_token(meta["revocation_endpoint"], token="a.b.c", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text

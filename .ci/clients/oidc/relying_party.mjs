// openid-client, panva's certified OpenID Connect relying party, against a live auth-api:
// discovery, the authorization code flow with PKCE and nonce through the hosted sign-in page
// (driven by its form, as a browser without JavaScript would), the library's own checks of the
// authorization response (state, iss) and of the ID token (signature from the JWK set, iss,
// aud, nonce, exp), userinfo, a refresh, and a replayed code refused.
//
// AUTH_API_URL=… ADMIN_USERNAME=… ADMIN_PASSWORD=… node relying_party.mjs
import * as client from "openid-client";

const base = process.env.AUTH_API_URL;
const redirectUri = "http://127.0.0.1:9/callback";

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
}

async function api(path, { token, body, method } = {}) {
  const response = await fetch(`${base}${path}`, {
    method: method ?? (body ? "POST" : "GET"),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// The app: a public, first-party client; the person: a new account.
const admin = await api("/api/auth/login", {
  body: { login: process.env.ADMIN_USERNAME, password: process.env.ADMIN_PASSWORD },
});
check(admin.status === 200, `the admin logs in: ${JSON.stringify(admin.body)}`);
const made = await api("/api/admin/clients", {
  token: admin.body.access_token,
  body: { name: "openid-client", kind: "public", first_party: true, redirect_uris: [redirectUri] },
});
check(made.status === 201, `the client is registered: ${JSON.stringify(made.body)}`);
const username = `rp_${Date.now()}`;
const password = "correct-horse-9";
const registered = await api("/api/auth/register", {
  body: { username, email: `${username}@example.com`, password },
});
check(registered.status === 201, `the person registers: ${JSON.stringify(registered.body)}`);

// Discovery, as the library does it (http on the loopback host, for the test only).
const config = await client.discovery(new URL(base), made.body.client_id, undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorization = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid email profile offline_access",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});

// The browser: cookies kept, redirects followed by hand until the app's callback.
const cookies = new Map();
async function visit(url, form) {
  const response = await fetch(url, {
    method: form ? "POST" : "GET",
    redirect: "manual",
    headers: {
      cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
      ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
    },
    body: form ? new URLSearchParams(form) : undefined,
  });
  for (const set of response.headers.getSetCookie()) {
    const [pair] = set.split(";");
    const at = pair.indexOf("=");
    cookies.set(pair.slice(0, at), pair.slice(at + 1));
  }
  const location = response.headers.get("location");
  return { status: response.status, location: location && new URL(location, url).href, html: await response.text() };
}
const field = (html, name) => {
  const found = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  check(found, `the form has ${name}`);
  return found[1].replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)));
};

let step = await visit(authorization.href);
check(step.status === 303 && step.location.includes("/signin?"), "to the sign-in page");
const page = await visit(step.location);
check(page.status === 200, "the sign-in page");
step = await visit(`${base}/signin`, {
  csrf: field(page.html, "csrf"),
  return_to: field(page.html, "return_to"),
  login: username,
  password,
});
while (step.status === 303 && !step.location.startsWith(redirectUri)) step = await visit(step.location);
check(step.status === 303, `back to the app: ${step.status} ${step.html}`);
const callback = new URL(step.location);

// The library checks the response (state, iss) and the ID token (signature, iss, aud, nonce…).
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
check(claims.sub === registered.body.user.id, "the ID token names the person");
check(claims.email === `${username}@example.com`, "the email scope's claim");
check(claims.preferred_username === username, "the profile scope's claim");
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
check(info.email === claims.email, "userinfo agrees");
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "the refresh token rotates");

// The same code again: refused, and what it gave revoked.
let replay;
try {
  await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
} catch (err) {
  replay = err;
}
check(replay?.error === "invalid_grant", `a replayed code is invalid_grant: ${replay}`);
const me = await api("/api/auth/me", { token: refreshed.access_token });
check(me.status === 401, "the replay revoked the tokens the code gave");
console.log("openid-client: discovery, code flow with PKCE, ID token, userinfo, refresh, replay: ok");

// Compatibility probe: the official WorkOS Node SDK (@workos-inc/node) plus
// jose against a live fakeidp. One probe for every pinned SDK version: each
// sdk-*/ folder holds only a package.json and package-lock.json, and the
// probe imports the SDK and jose from the folder it is given.
//
//   node --experimental-import-meta-resolve probe.mjs sdk-12 /path/to/fakeidp
//
// Starts `fakeidp serve --port 0 --no-key-cache --seed 1`, drives the real SDK
// (confidential client with the API key, public client with PKCE only) plus
// jose through sign-in, refresh, JWKS verification, sealed sessions, logout,
// revocation, user lookup and the SDK's automatic retries, and prints one
// line per check. The last line is "N passed, N failed"; the exit status is
// non-zero when anything failed. The server is killed on every exit path.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

if (process.argv.length !== 4) {
  console.error('usage: node --experimental-import-meta-resolve probe.mjs SDK_DIR /path/to/fakeidp');
  process.exit(2);
}
// The SDK and jose resolve as an `import` in SDK_DIR would resolve them.
const SDK_DIR = pathToFileURL(`${resolvePath(process.argv[2])}/`);
const sdkUrl = import.meta.resolve('@workos-inc/node', SDK_DIR);
const jose = await import(import.meta.resolve('jose', SDK_DIR));
const { WorkOS, OauthException, UnauthorizedException } = await import(sdkUrl);
const SDK_VERSION = JSON.parse(await readFile(
  new URL('./node_modules/@workos-inc/node/package.json', SDK_DIR), 'utf8')).version;
const SDK_MAJOR = Number(SDK_VERSION.split('.')[0]);
// 8.x sends no Idempotency-Key on authenticate and retries only /fga/,
// /vault/ and /audit_logs/ requests; 11.0.0 and later retry authenticate.
const SDK_RETRIES = SDK_MAJOR >= 11;

const CLIENT_ID = 'client_01FAKE1DPC0000000000000000';
const API_KEY = 'sk_test_fakeidp_0000000000000000000000000000';
const USER_EMAIL = 'alice@example.com';
const REDIRECT_URI = 'http://localhost:3000/callback';
const COOKIE_PASSWORD = 'compat-test-cookie-password-0123456789abcdef';
const ACCESS_TTL_S = 300;

// The SDK falls back to these; keep the run hermetic.
for (const name of Object.keys(process.env)) {
  if (name.startsWith('WORKOS_')) delete process.env[name];
}

// ---------------------------------------------------------------- reporting

let passed = 0;
let failed = 0;

class CheckError extends Error {}

function assert(cond, message) {
  if (!cond) throw new CheckError(message);
}

function assertEq(actual, expected, what) {
  if (actual !== expected) {
    throw new CheckError(
      `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

function describeError(e) {
  if (e instanceof CheckError) return e.message;
  const parts = [`${e?.constructor?.name ?? typeof e}: ${e?.message ?? String(e)}`];
  if (e?.status !== undefined) parts.push(`status=${e.status}`);
  if (e?.error !== undefined) parts.push(`error=${JSON.stringify(e.error)}`);
  if (e?.errorDescription !== undefined) parts.push(`error_description=${JSON.stringify(e.errorDescription)}`);
  if (e?.code !== undefined) parts.push(`code=${JSON.stringify(e.code)}`);
  if (e?.rawData !== undefined) parts.push(`rawData=${JSON.stringify(e.rawData)}`);
  return parts.join(' ');
}

// Runs one named check. `fn` may return a short note printed after PASS.
// `xfail` ({reason, match}) marks a check that fails because the fake
// deviates from WorkOS: a failure whose description matches `match` prints
// XFAIL with the reason and does not fail the run; any other failure is a
// FAIL, and a pass prints XPASS and fails the run, so that the marker goes.
let xfailed = 0;
async function check(name, fn, { xfail } = {}) {
  const started = Date.now();
  try {
    const note = await fn();
    if (xfail) {
      failed++;
      console.log(`XPASS ${name} (marked: ${xfail.reason}): remove the xfail marker`);
      return true;
    }
    passed++;
    console.log(`PASS ${name}${note ? ` — ${note}` : ''} (${Date.now() - started} ms)`);
    return true;
  } catch (e) {
    const observed = describeError(e);
    if (xfail && xfail.match.test(observed)) {
      xfailed++;
      console.log(`XFAIL ${name}: ${xfail.reason}`);
      return false;
    }
    failed++;
    console.log(`FAIL ${name}: ${observed}${xfail ? ` (expected failure: ${xfail.reason}, but not this one)` : ''}`);
    return false;
  }
}

// Expects `promise` to reject; returns the error.
async function rejects(promise, what) {
  try {
    const value = await promise;
    throw new CheckError(`${what}: expected an error, got success ${JSON.stringify(value)?.slice(0, 200)}`);
  } catch (e) {
    if (e instanceof CheckError) throw e;
    return e;
  }
}

function assertInvalidGrant(e, what) {
  assert(
    e instanceof OauthException,
    `${what}: expected OauthException, got ${describeError(e)}`,
  );
  assertEq(e.error, 'invalid_grant', `${what}: error`);
  assertEq(e.status, 400, `${what}: status`);
}

// ---------------------------------------------------------------- server

let server = null;

function startServer(binary) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      binary,
      ['serve', '--port', '0', '--no-key-cache', '--seed', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server = child;
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 8192) stderr = stderr.slice(-8192);
    });
    const timer = setTimeout(() => reject(new Error(`no 'listening on' line within 10 s; stderr: ${stderr}`)), 10_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`fakeidp exited early (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/[^\s]+)$/.exec(line.trim());
      if (!m) reject(new Error(`unexpected first line: ${JSON.stringify(line)}`));
      else resolve(new URL(m[1]));
    });
    // Keep draining stdout so the server never blocks on a full pipe.
    lines.on('line', () => {});
  });
}

function stopServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
  }
  server = null;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { stopServer(); process.exit(130); });
}
process.on('exit', stopServer);

// ---------------------------------------------------------------- helpers

let BASE; // URL of the fake, e.g. http://127.0.0.1:41234
let PORT;

async function admin(path, body) {
  const res = await fetch(new URL(path, BASE), body === undefined ? {} : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`admin ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const advanceClock = (advance) => admin('/_fakeidp/clock', { advance });
const virtualNowMs = async () => (await admin('/_fakeidp/clock')).now_ms;

async function journalSince(seq) {
  const j = await admin(`/_fakeidp/journal?since=${seq}`);
  return j.entries.filter((e) => e.seq > seq);
}
// The fake appends a journal entry after it has sent the response, so an
// entry can lag the reply the SDK already holds: poll until `want` entries of
// `route` are there (or 2 s have passed).
async function journalRouteSince(seq, route, want) {
  const deadline = Date.now() + 2000;
  for (;;) {
    const entries = (await journalSince(seq)).filter((e) => e.route === route);
    if (entries.length >= want || Date.now() > deadline) return entries;
    await new Promise((r) => setTimeout(r, 20));
  }
}
async function lastJournalSeq() {
  const { entries } = await admin('/_fakeidp/journal');
  return entries.length ? entries[entries.length - 1].seq : 0;
}

// Records every request the SDK sends (the fetchFn option of the SDK).
const sent = [];
async function recordingFetch(url, init = {}) {
  const entry = {
    url: String(url),
    method: init.method ?? 'GET',
    headers: Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    body: typeof init.body === 'string' ? init.body : null,
    at: Date.now(),
  };
  sent.push(entry);
  const res = await fetch(url, init);
  entry.status = res.status;
  entry.retryAfter = res.headers.get('retry-after');
  return res;
}
const sentSince = (n) => sent.slice(n);

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url'); // 43 chars
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// Builds the authorization URL with the SDK and "navigates" to it.
async function authorize(workos, { state, challenge } = {}) {
  const url = workos.userManagement.getAuthorizationUrl({
    provider: 'authkit',
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    state,
    ...(challenge ? { codeChallenge: challenge, codeChallengeMethod: 'S256' } : {}),
  });
  const res = await fetch(url, { redirect: 'manual' });
  const body = await res.text();
  assertEq(res.status, 302, `GET ${url} status (body ${body.slice(0, 200)})`);
  const location = res.headers.get('location');
  assert(location, 'authorize: no Location header');
  const loc = new URL(location);
  return { url, location, loc, code: loc.searchParams.get('code') };
}

// Signs alice in and returns the SDK's AuthenticationResponse.
async function login(workos, extra = {}) {
  const { verifier, challenge } = pkcePair();
  const { code } = await authorize(workos, { state: 'login', challenge });
  assert(code, 'authorize: no code');
  return workos.userManagement.authenticateWithCode({
    clientId: CLIENT_ID, code, codeVerifier: verifier, ...extra,
  });
}

// Runs `fn` with the global Date following the fake's virtual clock, so that
// jose (which reads `new Date()`) sees the same "now" as the server.
async function withVirtualDate(fn) {
  const RealDate = globalThis.Date;
  const offset = (await virtualNowMs()) - RealDate.now();
  class VirtualDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() { return RealDate.now() + offset; }
  }
  globalThis.Date = VirtualDate;
  try {
    return await fn(offset);
  } finally {
    globalThis.Date = RealDate;
  }
}

// ---------------------------------------------------------------- checks

async function main() {
  const binary = process.argv[3];
  BASE = await startServer(binary);
  PORT = Number(BASE.port);
  console.log(`fakeidp at ${BASE.origin}; SDK @workos-inc/node ${SDK_VERSION}, node ${process.version}`);

  const opts = { apiHostname: BASE.hostname, port: PORT, https: false, fetchFn: recordingFetch };
  const workos = new WorkOS(API_KEY, { ...opts, clientId: CLIENT_ID });
  const pub = new WorkOS({ clientId: CLIENT_ID, ...opts });

  // ---- authorization URL + redirect ---------------------------------------
  await check('authorize: SDK URL → 302 with code, state echoed verbatim', async () => {
    const state = 'a b&c=d/é?+%20#!*\'()~{"x":1}';
    const { challenge } = pkcePair();
    const { url, loc, code } = await authorize(workos, { state, challenge });
    const u = new URL(url);
    assertEq(u.pathname, '/user_management/authorize', 'authorize path');
    assertEq(u.searchParams.get('response_type'), 'code', 'response_type');
    assertEq(u.searchParams.get('provider'), 'authkit', 'provider');
    assertEq(u.searchParams.get('code_challenge_method'), 'S256', 'code_challenge_method');
    assertEq(u.searchParams.get('state'), state, 'state as built by the SDK');
    assertEq(`${loc.origin}${loc.pathname}`, REDIRECT_URI, 'redirect target');
    assert(code && code.length > 0, 'no code in Location');
    assertEq(loc.searchParams.get('state'), state, 'state in Location');
    return `code=${code.slice(0, 12)}…`;
  });

  // ---- code exchange --------------------------------------------------------
  let confidential; // AuthenticationResponse from the confidential exchange
  await check('authenticateWithCode (confidential: API key + client_secret + verifier)', async () => {
    const { verifier, challenge } = pkcePair();
    const { code } = await authorize(workos, { state: 's1', challenge });
    const n = sent.length;
    const r = await workos.userManagement.authenticateWithCode({ clientId: CLIENT_ID, code, codeVerifier: verifier });
    const req = sentSince(n).find((s) => s.url.endsWith('/user_management/authenticate'));
    const body = JSON.parse(req.body);
    assertEq(body.grant_type, 'authorization_code', 'request grant_type');
    assertEq(body.client_secret, API_KEY, 'request client_secret');
    assertEq(req.headers.authorization, `Bearer ${API_KEY}`, 'request Authorization');
    if (SDK_RETRIES) {
      assert(/^retry-[0-9a-f-]{36}$/.test(req.headers['idempotency-key'] ?? ''), 'request Idempotency-Key');
    } else {
      assert(!req.headers['idempotency-key'], 'request Idempotency-Key (8.x sends none)');
    }
    checkAuthResponse(r);
    confidential = r;
    return `user ${r.user.id}, sid ${jose.decodeJwt(r.accessToken).sid}`;
  });

  await check('authenticateWithCode (confidential, code without PKCE challenge)', async () => {
    const { code } = await authorize(workos, { state: 's-nopkce' });
    const r = await workos.userManagement.authenticateWithCode({ clientId: CLIENT_ID, code });
    checkAuthResponse(r);
  });

  await check('authorization code is single-use → OauthException invalid_grant', async () => {
    const { verifier, challenge } = pkcePair();
    const { code } = await authorize(workos, { state: 's2', challenge });
    await workos.userManagement.authenticateWithCode({ clientId: CLIENT_ID, code, codeVerifier: verifier });
    const e = await rejects(
      workos.userManagement.authenticateWithCode({ clientId: CLIENT_ID, code, codeVerifier: verifier }),
      'second redemption',
    );
    assertInvalidGrant(e, 'second redemption');
  });

  let publicAuth;
  await check('authenticateWithCode (public client: clientId + PKCE verifier only)', async () => {
    const { verifier, challenge } = pkcePair();
    const { code } = await authorize(pub, { state: 'pub', challenge });
    const n = sent.length;
    const r = await pub.userManagement.authenticateWithCode({ code, codeVerifier: verifier });
    const req = sentSince(n).find((s) => s.url.endsWith('/user_management/authenticate'));
    const body = JSON.parse(req.body);
    assert(!('client_secret' in body), 'public client sent client_secret');
    assert(!req.headers.authorization, 'public client sent Authorization');
    assertEq(body.code_verifier, verifier, 'request code_verifier');
    checkAuthResponse(r);
    publicAuth = r;
  });

  await check('public client: wrong PKCE verifier → OauthException invalid_grant', async () => {
    const { challenge } = pkcePair();
    const { code } = await authorize(pub, { state: 'pub-bad', challenge });
    const e = await rejects(
      pub.userManagement.authenticateWithCode({ code, codeVerifier: pkcePair().verifier }),
      'wrong verifier',
    );
    assertInvalidGrant(e, 'wrong verifier');
  });

  await check('public client: authenticateWithRefreshToken without secret', async () => {
    assert(publicAuth, 'needs the public exchange');
    const n = sent.length;
    const r = await pub.userManagement.authenticateWithRefreshToken({ refreshToken: publicAuth.refreshToken });
    const req = sentSince(n).find((s) => s.url.endsWith('/user_management/authenticate'));
    assert(!('client_secret' in JSON.parse(req.body)), 'public refresh sent client_secret');
    assertEq(jose.decodeJwt(r.accessToken).sid, jose.decodeJwt(publicAuth.accessToken).sid, 'sid');
    assert(r.refreshToken !== publicAuth.refreshToken, 'refresh token not rotated');
  });

  // ---- refresh rotation, grace, expiry of the grace ------------------------
  let rotated;
  await check('authenticateWithRefreshToken → new access + refresh token, same sid', async () => {
    assert(confidential, 'needs the confidential exchange');
    const r = await workos.userManagement.authenticateWithRefreshToken({
      clientId: CLIENT_ID, refreshToken: confidential.refreshToken,
    });
    const before = jose.decodeJwt(confidential.accessToken);
    const after = jose.decodeJwt(r.accessToken);
    assert(r.accessToken !== confidential.accessToken, 'access token unchanged');
    assert(r.refreshToken !== confidential.refreshToken, 'refresh token unchanged');
    assertEq(after.sid, before.sid, 'sid');
    assertEq(after.sub, before.sub, 'sub');
    assert(after.jti !== before.jti, 'jti unchanged');
    assertEq(after.exp - after.iat, ACCESS_TTL_S, 'exp - iat');
    assertEq(after.auth_time, before.auth_time, 'auth_time unchanged by the refresh');
    assertEq(r.user.id, confidential.user.id, 'user.id');
    rotated = r;
  });

  await check('refresh token replay within the grace → identical pair', async () => {
    assert(rotated, 'needs the first rotation');
    const r = await workos.userManagement.authenticateWithRefreshToken({
      clientId: CLIENT_ID, refreshToken: confidential.refreshToken,
    });
    assertEq(r.accessToken, rotated.accessToken, 'access token');
    assertEq(r.refreshToken, rotated.refreshToken, 'refresh token');
  });

  await check('refresh token replay after clock +31s → OauthException invalid_grant', async () => {
    assert(rotated, 'needs the first rotation');
    await advanceClock('31s');
    const e = await rejects(
      workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: confidential.refreshToken }),
      'replay after grace',
    );
    assertInvalidGrant(e, 'replay after grace');
    return `error_description=${JSON.stringify(e.errorDescription)}`;
  });

  await check('rotated refresh token still works after the old one is rejected', async () => {
    const r = await workos.userManagement.authenticateWithRefreshToken({
      clientId: CLIENT_ID, refreshToken: rotated.refreshToken,
    });
    assertEq(jose.decodeJwt(r.accessToken).sid, jose.decodeJwt(rotated.accessToken).sid, 'sid');
  });

  // ---- JWKS ----------------------------------------------------------------
  await check('jose: createRemoteJWKSet(getJwksUrl) + jwtVerify on a fake token', async () => {
    const jwksUrl = workos.userManagement.getJwksUrl(CLIENT_ID);
    assertEq(jwksUrl, `${BASE.origin}/sso/jwks/${CLIENT_ID}`, 'JWKS URL');
    const jwks = jose.createRemoteJWKSet(new URL(jwksUrl));
    const token = confidential.accessToken;
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks);
    assertEq(protectedHeader.alg, 'RS256', 'alg');
    assert(protectedHeader.kid, 'no kid');
    assertEq(payload.sub, confidential.user.id, 'sub');
    return `kid ${protectedHeader.kid}, iss ${payload.iss}`;
  });

  await check('jose: forged tokens are rejected', async () => {
    const jwks = jose.createRemoteJWKSet(new URL(workos.userManagement.getJwksUrl(CLIENT_ID)));
    const real = confidential.accessToken;
    const header = jose.decodeProtectedHeader(real);
    const claims = jose.decodeJwt(real);
    // 1. same kid, signed with another RSA key
    const { privateKey } = await jose.generateKeyPair('RS256');
    const forged = await new jose.SignJWT({ ...claims, sub: 'user_attacker' })
      .setProtectedHeader({ alg: 'RS256', kid: header.kid })
      .sign(privateKey);
    const e1 = await rejects(jose.jwtVerify(forged, jwks), 'foreign key');
    assertEq(e1.code, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'foreign key: jose code');
    // 2. real signature, tampered payload
    const [h, , s] = real.split('.');
    const tampered = `${h}.${jose.base64url.encode(JSON.stringify({ ...claims, sub: 'user_attacker' }))}.${s}`;
    const e2 = await rejects(jose.jwtVerify(tampered, jwks), 'tampered payload');
    assertEq(e2.code, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'tampered: jose code');
    // 3. alg none
    const none = new jose.UnsecuredJWT(claims).encode();
    const e3 = await rejects(jose.jwtVerify(none, jwks), 'alg none');
    assert(String(e3.code).startsWith('ERR_J'), `alg none: jose code ${e3.code}`);
  });

  // ---- sealed sessions -----------------------------------------------------
  let sealed; // { sessionData, sid, userId }
  await check('sealed session: authenticateWithCode({session:{sealSession}}) → loadSealedSession().authenticate()', async () => {
    const r = await login(workos, { session: { sealSession: true, cookiePassword: COOKIE_PASSWORD } });
    assert(typeof r.sealedSession === 'string' && r.sealedSession.startsWith('Fe26.2*'), `sealedSession ${r.sealedSession}`);
    const s = workos.userManagement.loadSealedSession({ sessionData: r.sealedSession, cookiePassword: COOKIE_PASSWORD });
    const a = await s.authenticate();
    assertEq(a.authenticated, true, `authenticate() (reason ${a.reason})`);
    assertEq(a.user?.id, r.user.id, 'user.id');
    assertEq(a.user?.email, USER_EMAIL, 'user.email');
    assertEq(a.sessionId, jose.decodeJwt(r.accessToken).sid, 'sessionId');
    sealed = { sessionData: r.sealedSession, sid: a.sessionId, userId: r.user.id };
  });

  let refreshedSeal;
  let refreshedTokens; // the AuthenticationResponse inside refreshedSeal
  await check('sealed session: after virtual clock +6m the token is expired; refresh() gives a new seal', async () => {
    assert(sealed, 'needs a sealed session');
    await advanceClock('6m');
    const s = workos.userManagement.loadSealedSession({ sessionData: sealed.sessionData, cookiePassword: COOKIE_PASSWORD });
    // jose judges `exp` against the process clock, not the fake's virtual
    // clock: through the SDK as-is the token still looks valid.
    const wall = await s.authenticate();
    assertEq(wall.authenticated, true, 'authenticate() on the wall clock');
    // With Date following the virtual clock, the SDK sees the expiry.
    const notes = [];
    await withVirtualDate(async (offset) => {
      notes.push(`virtual clock ahead by ${Math.round(offset / 1000)} s`);
      const expired = await s.authenticate();
      assertEq(expired.authenticated, false, 'authenticate() on the virtual clock');
      assertEq(expired.reason, 'invalid_jwt', 'reason');
      const r = await s.refresh();
      assertEq(r.authenticated, true, `refresh() (reason ${r.reason})`);
      assert(r.sealedSession && r.sealedSession !== sealed.sessionData, 'refresh() gave no new seal');
      assertEq(r.sessionId, sealed.sid, 'sessionId after refresh');
      assertEq(r.user?.id, sealed.userId, 'user after refresh');
      const again = await workos.userManagement
        .loadSealedSession({ sessionData: r.sealedSession, cookiePassword: COOKIE_PASSWORD })
        .authenticate();
      assertEq(again.authenticated, true, `new seal authenticate() (reason ${again.reason})`);
      refreshedSeal = r.sealedSession;
      refreshedTokens = r.session;
    });
    return notes.join('; ');
  });

  await check('sealed session: getLogoutUrl() → GET ends the session; refresh → invalid_grant', async () => {
    assert(refreshedSeal, 'needs the refreshed seal');
    const returnTo = 'http://localhost:3000/signed-out';
    const s = workos.userManagement.loadSealedSession({ sessionData: refreshedSeal, cookiePassword: COOKIE_PASSWORD });
    const url = await s.getLogoutUrl({ returnTo });
    const u = new URL(url);
    assertEq(u.pathname, '/user_management/sessions/logout', 'logout path');
    assertEq(u.searchParams.get('session_id'), sealed.sid, 'session_id');
    const res = await fetch(url, { redirect: 'manual' });
    await res.text();
    assert(res.status === 302 || res.status === 303 || res.status === 307, `logout status ${res.status}`);
    assertEq(res.headers.get('location'), returnTo, 'logout Location');
    const r = await s.refresh();
    assertEq(r.authenticated, false, 'refresh() after logout');
    assertEq(r.reason, 'invalid_grant', 'refresh() reason after logout');
    const e = await rejects(
      workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: refreshedTokens.refreshToken }),
      'refresh after logout',
    );
    assertInvalidGrant(e, 'refresh after logout');
  });

  await check(SDK_MAJOR >= 12
    ? 'legacy tokens (no auth_time, legacy_claims setting): 12.x authenticate() → invalid_jwt'
    : 'legacy tokens (no auth_time, legacy_claims setting): authenticate() still accepts them', async () => {
    await admin('/_fakeidp/settings', { legacy_claims: true });
    try {
      const r = await login(workos, { session: { sealSession: true, cookiePassword: COOKIE_PASSWORD } });
      const c = jose.decodeJwt(r.accessToken);
      assert(!('auth_time' in c) && !('client_id' in c), 'legacy token still has auth_time/client_id');
      const a = await workos.userManagement
        .loadSealedSession({ sessionData: r.sealedSession, cookiePassword: COOKIE_PASSWORD })
        .authenticate();
      if (SDK_MAJOR >= 12) {
        assertEq(a.authenticated, false, 'authenticate() on a token without auth_time');
        assertEq(a.reason, 'invalid_jwt', 'reason');
      } else {
        assertEq(a.authenticated, true, `authenticate() (reason ${a.reason})`);
      }
    } finally {
      await admin('/_fakeidp/settings', { legacy_claims: false });
    }
  });

  await check('revokeSession({sessionId}) → refresh fails with invalid_grant', async () => {
    const r = await login(workos);
    const sid = jose.decodeJwt(r.accessToken).sid;
    const n = sent.length;
    const out = await workos.userManagement.revokeSession({ sessionId: sid });
    assertEq(out, undefined, 'revokeSession result');
    const req = sentSince(n).find((x) => x.url.endsWith('/user_management/sessions/revoke'));
    assertEq(JSON.parse(req.body).session_id, sid, 'request session_id');
    const e = await rejects(
      workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r.refreshToken }),
      'refresh after revoke',
    );
    assertInvalidGrant(e, 'refresh after revoke');
  });

  // ---- API-key calls ---------------------------------------------------------
  await check('getUser(userId) returns the user', async () => {
    const u = await workos.userManagement.getUser(confidential.user.id);
    assertEq(u.object, 'user', 'object');
    assertEq(u.id, confidential.user.id, 'id');
    assertEq(u.email, USER_EMAIL, 'email');
    assertEq(u.firstName, confidential.user.firstName, 'firstName');
  });

  await check('getUser with a bad API key → UnauthorizedException', async () => {
    const bad = new WorkOS('sk_test_wrong_key', { ...opts, clientId: CLIENT_ID });
    const e = await rejects(bad.userManagement.getUser(confidential.user.id), 'bad key');
    assert(e instanceof UnauthorizedException, `expected UnauthorizedException, got ${describeError(e)}`);
    assertEq(e.status, 401, 'status');
  });

  // ---- automatic retries -----------------------------------------------------
  if (!SDK_RETRIES) {
    await check('no retry (8.x): 503 before the handler → GenericServerException; the app\'s second call succeeds', async () => {
      const r0 = await login(workos);
      await admin('/_fakeidp/faults', { route: 'authenticate', grant_type: 'refresh_token', status: 503, count: 1 });
      const n = sent.length;
      const e = await rejects(
        workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r0.refreshToken }),
        '503',
      );
      assertEq(e.status, 503, 'status');
      assertEq(sentSince(n).filter((x) => x.url.endsWith('/user_management/authenticate')).length, 1, 'attempts sent by the SDK');
      const r = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r0.refreshToken });
      assertEq(jose.decodeJwt(r.accessToken).sid, jose.decodeJwt(r0.accessToken).sid, 'sid');
    });
    await check('no retry (8.x): 503 after the rotation committed → the app\'s retry of the same token succeeds via the grace', async () => {
      const r0 = await login(workos);
      await admin('/_fakeidp/faults', { route: 'authenticate', grant_type: 'refresh_token', status: 503, count: 1, phase: 'after' });
      const e = await rejects(
        workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r0.refreshToken }),
        '503 after',
      );
      assertEq(e.status, 503, 'status');
      const r = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r0.refreshToken });
      const r2 = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r.refreshToken });
      assertEq(jose.decodeJwt(r2.accessToken).sid, jose.decodeJwt(r0.accessToken).sid, 'sid');
    });
  } else {
    await check('retry: 503 before the handler → SDK retries with the same Idempotency-Key and succeeds', async () => {
      const r0 = await login(workos);
      await admin('/_fakeidp/faults', { route: 'authenticate', grant_type: 'refresh_token', status: 503, count: 1 });
      const seq = await lastJournalSeq();
      const n = sent.length;
      const t0 = Date.now();
      const r = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r0.refreshToken });
      const ms = Date.now() - t0;
      const attempts = sentSince(n).filter((x) => x.url.endsWith('/user_management/authenticate'));
      assertEq(attempts.length, 2, 'attempts sent by the SDK');
      assertEq(attempts[0].headers['idempotency-key'], attempts[1].headers['idempotency-key'], 'Idempotency-Key reused');
      assertEq(JSON.parse(attempts[1].body).refresh_token, r0.refreshToken, 'retry refresh_token');
      const entries = await journalRouteSince(seq, 'authenticate', 2);
      assertEq(entries.map((e) => e.status).join(','), '503,200', 'journal statuses');
      assert(r.refreshToken !== r0.refreshToken, 'not rotated');
      assertEq(jose.decodeJwt(r.accessToken).sid, jose.decodeJwt(r0.accessToken).sid, 'sid');
      return `503 carried Retry-After ${JSON.stringify(attempts[0].retryAfter)}; retried after ${attempts[1].at - attempts[0].at} ms, total ${ms} ms`;
    });

    await check('retry: 503 after the rotation committed → retry of the same token succeeds via the grace', async () => {
      const r0 = await login(workos);
      await admin('/_fakeidp/faults', { route: 'authenticate', grant_type: 'refresh_token', status: 503, count: 1, phase: 'after' });
      const seq = await lastJournalSeq();
      const n = sent.length;
      const r = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r0.refreshToken });
      const attempts = sentSince(n).filter((x) => x.url.endsWith('/user_management/authenticate'));
      assertEq(attempts.length, 2, 'attempts sent by the SDK');
      assertEq(attempts[0].headers['idempotency-key'], attempts[1].headers['idempotency-key'], 'Idempotency-Key reused');
      const entries = await journalRouteSince(seq, 'authenticate', 2);
      assertEq(entries.map((e) => e.status).join(','), '503,200', 'journal statuses');
      assert(entries[0].token_hash, 'journal: no token_hash');
      assertEq(entries[1].token_hash, entries[0].token_hash, 'journal: same token_hash on both attempts');
      assert(r.refreshToken !== r0.refreshToken, 'not rotated');
      // The pair the SDK finally got is the live one: it rotates again.
      const r2 = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r.refreshToken });
      assertEq(jose.decodeJwt(r2.accessToken).sid, jose.decodeJwt(r0.accessToken).sid, 'sid');
      return `Retry-After ${JSON.stringify(attempts[0].retryAfter)}; journal outcomes ${entries.map((e) => e.outcome).join(',')}`;
    });
  }

  await check('faults each fired once and are used up (GET /_fakeidp/faults)', async () => {
    const { faults } = await admin('/_fakeidp/faults');
    assertEq(faults.length, 2, 'faults listed');
    for (const f of faults) {
      assertEq(f.fired, 1, `${f.id} fired`);
      assertEq(f.remaining, 0, `${f.id} remaining`);
    }
    return faults.map((f) => `${f.id}:${f.phase}`).join(', ');
  });

  if (SDK_MAJOR >= 12) {
    const { grantChecks } = await import('./grants.mjs');
    await grantChecks({ workos, CLIENT_ID, check, assert, assertEq, rejects, describeError, admin, virtualNowMs, jose });
  }
}

// Field checks on an AuthenticationResponse from a code exchange.
function checkAuthResponse(r) {
  const u = r.user;
  assert(u, 'no user');
  assertEq(u.object, 'user', 'user.object');
  assert(/^user_/.test(u.id), `user.id ${u.id}`);
  assertEq(u.email, USER_EMAIL, 'user.email');
  assertEq(typeof u.emailVerified, 'boolean', 'typeof user.emailVerified');
  for (const f of ['firstName', 'lastName', 'profilePictureUrl', 'lastSignInAt', 'externalId']) {
    assert(f in u, `user.${f} missing`);
  }
  // 12.x turns the timestamps into Date objects, older SDKs keep the strings.
  for (const f of ['createdAt', 'updatedAt', 'lastSignInAt']) {
    const ok = SDK_MAJOR >= 12
      ? u[f] instanceof Date && !Number.isNaN(u[f].getTime())
      : typeof u[f] === 'string' && !Number.isNaN(Date.parse(u[f]));
    assert(ok, `user.${f} ${u[f]}`);
  }
  assert(u.metadata && typeof u.metadata === 'object', 'user.metadata');
  assert(typeof r.refreshToken === 'string' && r.refreshToken.length > 0, 'refreshToken');
  const h = jose.decodeProtectedHeader(r.accessToken);
  assertEq(h.alg, 'RS256', 'access token alg');
  assert(h.kid, 'access token kid');
  const c = jose.decodeJwt(r.accessToken);
  assertEq(c.sub, u.id, 'claim sub');
  assert(/^session_/.test(c.sid ?? ''), `claim sid ${c.sid}`);
  assert(c.jti, 'claim jti');
  assert(Number.isInteger(c.iat) && Number.isInteger(c.exp), 'claims iat/exp');
  assertEq(c.exp - c.iat, ACCESS_TTL_S, 'exp - iat');
  assert(typeof c.iss === 'string' && c.iss.length > 0, 'claim iss');
  // Production claims that 12.x relies on (auth_time for sealed sessions).
  assertEq(c.client_id, CLIENT_ID, 'claim client_id');
  assert(Number.isInteger(c.auth_time) && c.auth_time <= c.iat, `claim auth_time ${c.auth_time}`);
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL (aborted): ${e?.stack ?? e}`);
} finally {
  stopServer();
}
console.log(`${passed} passed, ${failed} failed${xfailed ? `, ${xfailed} expected failures` : ''}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

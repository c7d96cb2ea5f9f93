// Vitest tests of a real app (examples/node-sealed-session, on
// @workos-inc/node sealed sessions) against fakeidp, through the fakeidp
// JavaScript client: the fake on a free port, the app started under
// `fakeidp exec` so that its clock follows the fake's, the fake reset before
// each test. Run: FAKEIDP_BIN=/path/to/fakeidp npx vitest run
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { FakeIdp, freePort } from 'fakeidp';

const appDir = fileURLToPath(new URL('../../../../examples/node-sealed-session/', import.meta.url));

let idp;
let appUrl;

beforeAll(async () => {
  idp = await FakeIdp.start(); // $FAKEIDP_BIN, else fakeidp on the PATH
  const port = await freePort();
  appUrl = `http://localhost:${port}`;
  const app = idp.exec('node', ['server.mjs'], {
    cwd: appDir,
    env: { PORT: String(port), WORKOS_REDIRECT_URI: `${appUrl}/callback` },
    stdio: 'ignore',
  });
  await app.waitForUrl(`${appUrl}/healthz`);
});

afterAll(() => idp?.stop()); // stops the app too

beforeEach(() => idp.reset());

// A kept-alive connection can be closed by the app just as a request reuses
// it: the app's clock jumps with advance(), so its idle timeout runs out at
// once. Browsers retry an idempotent request on a fresh connection then; so
// does this one (GET only).
async function fetchRetried(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (!['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'].includes(e?.cause?.code)) throw e;
    return fetch(url, init);
  }
}

// Just enough of a browser: one cookie jar per host, redirects followed.
function browser() {
  const jars = new Map();
  return {
    async get(url) {
      for (let hop = 0; hop < 10; hop++) {
        const { host } = new URL(url);
        const jar = jars.get(host) ?? new Map();
        jars.set(host, jar);
        const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
        const res = await fetchRetried(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
        for (const line of res.headers.getSetCookie()) {
          const [pair] = line.split(';');
          const i = pair.indexOf('=');
          const [name, value] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
          if (/max-age=0/i.test(line) || value === '') jar.delete(name);
          else jar.set(name, value);
        }
        if (res.status < 300 || res.status > 399) return { status: res.status, body: await res.json() };
        await res.arrayBuffer();
        url = new URL(res.headers.get('location'), url).toString();
      }
      throw new Error('too many redirects');
    },
  };
}

async function signIn() {
  const user = browser();
  const { body } = await user.get(`${appUrl}/login`);
  expect(body).toMatchObject({ signed_in: true, user: 'alice@example.com' });
  return user;
}

async function refreshesSince(since) {
  const { entries } = await idp.journal({ since, route: 'authenticate' });
  return entries.filter((e) => e.grant_type === 'refresh_token').map((e) => `${e.status} ${e.outcome}`);
}

test('the session survives a refresh six minutes later', async () => {
  const user = await signIn();
  const { next } = await idp.journal();
  await idp.advance('6m'); // past the 5-minute access token, in the app too
  const me = await user.get(`${appUrl}/api/me`);
  expect(me).toMatchObject({ status: 200, body: { signed_in: true } });
  expect(await refreshesSince(next)).toEqual(['200 rotated']);
});

test('an hour of six-minute steps keeps the session', async () => {
  const user = await signIn();
  for (let i = 0; i < 10; i++) {
    await idp.advance('6m');
    expect((await user.get(`${appUrl}/api/me`)).status).toBe(200);
  }
  const [session] = await idp.sessions();
  expect(session).toMatchObject({ status: 'active', refresh_count: 10 });
});

test('a session revoked at the IdP is lost at the next refresh', async () => {
  const user = await signIn();
  const [session] = await idp.sessions();
  await idp.revokeSession(session.id);
  expect((await user.get(`${appUrl}/api/me`)).status).toBe(200); // the access token still verifies
  await idp.advance('6m');
  expect(await user.get(`${appUrl}/api/me`)).toMatchObject({ status: 401, body: { signed_in: false } });
});

test('a session past its maximum age is lost', async () => {
  await idp.settings({ session_max_age: '10m' });
  const user = await signIn();
  await idp.advance('6m');
  expect((await user.get(`${appUrl}/api/me`)).status).toBe(200);
  await idp.advance('6m');
  expect(await user.get(`${appUrl}/api/me`)).toMatchObject({ status: 401, body: { signed_in: false } });
  const [session] = await idp.sessions();
  expect(session).toMatchObject({ status: 'inactive', end_reason: 'max_age' });
});

test('a single 503 on refresh is retried by the SDK: the session survives', async () => {
  const user = await signIn();
  const { next } = await idp.journal();
  await idp.fault({ route: 'authenticate', grant_type: 'refresh_token', status: 503, count: 1 });
  await idp.advance('6m');
  expect((await user.get(`${appUrl}/api/me`)).status).toBe(200);
  expect(await refreshesSince(next)).toEqual(['503 null', '200 rotated']);
});

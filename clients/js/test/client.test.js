// The admin API client against a real `fakeidp serve` (FAKEIDP_BIN).
// Run: FAKEIDP_BIN=build/cli/fakeidp node --test clients/js/test/
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';

import { FakeIdp, FakeIdpError, freePort, waitForUrl } from '../index.js';

const binary = process.env.FAKEIDP_BIN;
if (!binary) throw new Error('set FAKEIDP_BIN to the fakeidp executable');
const lifecycleApp = fileURLToPath(new URL('../../../examples/lifecycle/app.mjs', import.meta.url));
const libfaketime = process.env.FAKEIDP_LIBFAKETIME_FOUND !== '0';
// One signing key for every fake of this file (generating one costs seconds on a busy machine).
const work = mkdtempSync(path.join(tmpdir(), 'fakeidp-js-'));
const keyCache = ['--key-cache', path.join(work, 'signing-key.pem')];
after(() => rmSync(work, { recursive: true, force: true }));

describe('FakeIdp.start / stop', () => {
  test('starts on a free port, answers, and stops', async () => {
    const idp = await FakeIdp.start({ binary, args: keyCache });
    assert.match(idp.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await idp.health()).status, 'ok');
    await idp.stop();
    assert.notEqual(idp.process.exitCode ?? idp.process.signalCode, null);
    await assert.rejects(idp.health(), (e) => e instanceof FakeIdpError && e.status === 0 && /cannot reach/.test(e.message));
  });

  test('a binary that does not exist is a clear error', async () => {
    await assert.rejects(FakeIdp.start({ binary: '/nonexistent/fakeidp' }), /cannot start \/nonexistent\/fakeidp \(ENOENT\)/);
  });

  test('a serve that refuses its options rejects with its message', async () => {
    await assert.rejects(
      FakeIdp.start({ binary, settings: { refresh_mode: 'sometimes' }, args: keyCache }),
      (e) => e instanceof FakeIdpError && /exited \(status 2\)/.test(e.message) && /refresh_mode/.test(e.message),
    );
  });

  test('a port in use is reported', async () => {
    const idp = await FakeIdp.start({ binary, args: keyCache });
    try {
      const port = new URL(idp.url).port;
      await assert.rejects(FakeIdp.start({ binary, port: Number(port), args: keyCache }), /exited/);
    } finally {
      await idp.stop();
    }
  });

  test('settings given at start apply; the admin token is sent', async () => {
    const idp = await FakeIdp.start({ binary, adminToken: 'tok-123', settings: { access_ttl: '60s' }, args: keyCache });
    try {
      assert.equal((await idp.settings()).access_ttl, '1m');
      const stranger = new FakeIdp({ url: idp.url });
      await assert.rejects(stranger.clock(), (e) => e.status === 401 && e.code === 'unauthorized');
    } finally {
      await idp.stop();
    }
  });
});

describe('admin API', () => {
  let idp;
  before(async () => {
    idp = await FakeIdp.start({ binary, args: [...keyCache, '--seed', '1'] });
  });
  after(() => idp.stop());
  beforeEach(() => idp.reset());

  test('clock: set, freeze, advance, back', async () => {
    let clock = await idp.setClock({ freeze: true, set: new Date('2026-01-15T12:00:00Z') });
    assert.deepEqual(clock, { now_ms: 1768478400000, now: '2026-01-15T12:00:00.000Z', frozen: true });
    clock = await idp.advance('6m');
    assert.equal(clock.now, '2026-01-15T12:06:00.000Z');
    clock = await idp.advance(-60);
    assert.equal(clock.now, '2026-01-15T12:05:00.000Z');
    assert.deepEqual(await idp.clock(), clock);
    await assert.rejects(idp.advance('soon'), (e) => e.status === 422 && e.code === 'invalid_request');
    assert.equal((await idp.clock()).now_ms, clock.now_ms, 'a refused change changes nothing');
  });

  test('settings: read, change, refuse an unknown one', async () => {
    const changed = await idp.settings({ refresh_mode: 'strict', access_ttl: '60s' });
    assert.equal(changed.refresh_mode, 'strict');
    assert.equal((await idp.settings()).access_ttl, '1m');
    await assert.rejects(idp.settings({ refresh_mod: 'strict' }), (e) => e.status === 422 && e.code === 'invalid_setting');
    await idp.reset();
    assert.equal((await idp.settings()).refresh_mode, 'grace', 'reset restores the configuration');
  });

  test('faults: add one or several, list, remove one, clear', async () => {
    const [one] = await idp.fault({ route: 'authenticate', grant_type: 'refresh_token', status: 503, count: 1 });
    assert.equal(one, 'fault-1');
    assert.deepEqual(await idp.fault([{ id: 'slow', route: 'jwks', action: 'latency', delay: '1s' }, { route: 'jwks', status: 500 }]), ['slow', 'fault-3']);
    assert.deepEqual((await idp.faults()).map((f) => f.id), ['fault-1', 'slow', 'fault-3']);
    assert.deepEqual((await idp.clearFaults('slow')).map((f) => f.id), ['fault-1', 'fault-3']);
    await assert.rejects(idp.clearFaults('slow'), (e) => e.status === 404);
    assert.deepEqual(await idp.clearFaults(), []);
    await assert.rejects(idp.fault({ route: 'authenticate', action: 'explode' }), (e) => e.status === 422 && e.code === 'invalid_fault');
  });

  test('users and signInAs', async () => {
    const users = await idp.addUser({ email: 'bob@example.com', first_name: 'Bob' });
    assert.ok(users.some((u) => u.email === 'bob@example.com'));
    assert.deepEqual(await idp.signInAs('bob@example.com'), { default_user: 'bob@example.com' });
    await assert.rejects(idp.signInAs('nobody@example.com'), (e) => e.status === 404 && e.code === 'entity_not_found');
    await idp.reset();
    assert.ok(!(await idp.users()).some((u) => u.email === 'bob@example.com'));
  });

  test('journal: entries since a seq, filtered by route; reset empties it', async () => {
    const { next } = await idp.journal();
    await idp.clock();
    await fetch(`${idp.url}/sso/jwks/client_01FAKE1DPC0000000000000000`);
    const all = await idp.journal({ since: next });
    assert.deepEqual(all.entries.map((e) => e.route), ['admin', 'jwks']);
    assert.deepEqual((await idp.journal({ since: next, route: 'jwks' })).entries.map((e) => e.status), [200]);
    assert.deepEqual((await idp.journal({ since: next, admin: false })).entries.map((e) => e.route), ['jwks']);
    await idp.reset();
    assert.deepEqual((await idp.journal()).entries.map((e) => e.path), ['/_fakeidp/reset']);
  });

  test('sessions, revoke and keys', async () => {
    assert.deepEqual(await idp.sessions(), []);
    await assert.rejects(idp.revokeSession('session_nope'), (e) => e.status === 404);
    const keys = await idp.rotateKeys({ publishLead: '15m', retireAfter: '15m' });
    assert.equal(keys.length, 2);
    assert.equal((await idp.keys()).length, 2);
  });

  test('outbox: GET /_fakeidp/outbox (404 from a fakeidp without the route)', async () => {
    try {
      const outbox = await idp.outbox();
      assert.equal(typeof outbox, 'object');
    } catch (e) {
      assert.ok(e instanceof FakeIdpError);
      assert.equal(e.status, 404);
      assert.match(e.message, /GET \/_fakeidp\/outbox: 404 No admin route \/_fakeidp\/outbox/);
    }
  });

  test('env: the WORKOS_* variables of fakeidp env', async () => {
    const env = await idp.env({ redirectUri: 'http://localhost:4000/callback' });
    const { port } = new URL(idp.url);
    assert.equal(env.WORKOS_API_HOSTNAME, '127.0.0.1');
    assert.equal(env.WORKOS_API_PORT, port);
    assert.equal(env.WORKOS_API_HTTPS, 'false');
    assert.equal(env.WORKOS_CLIENT_ID, 'client_01FAKE1DPC0000000000000000');
    assert.equal(env.WORKOS_API_KEY, 'sk_test_fakeidp_0000000000000000000000000000');
    assert.equal(env.WORKOS_REDIRECT_URI, 'http://localhost:4000/callback');
    assert.equal(env.WORKOS_COOKIE_PASSWORD.length, 43);
  });

  test('an unknown admin route is a FakeIdpError with the fake message', async () => {
    await assert.rejects(idp.request('GET', '/_fakeidp/nope'), (e) => e.status === 404 && e.code === 'not_found' && /No admin route/.test(e.message));
  });
});

describe('exec: a command on the fake clock', { skip: !libfaketime && 'libfaketime not found' }, () => {
  let idp;
  before(async () => {
    idp = await FakeIdp.start({ binary, args: keyCache });
  });
  after(() => idp.stop());

  async function appClock(url) {
    return (await (await fetch(`${url}/clock`)).json()).now;
  }

  test('advance() resolves once the app follows, to the millisecond on a frozen clock', async () => {
    await idp.setClock({ freeze: true, set: 1768478400000 });
    const port = await freePort();
    const app = idp.exec(process.execPath, [lifecycleApp], { env: { PORT: String(port) }, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      await app.waitForUrl(url);
      assert.equal(await appClock(url), 1768478400000);
      for (let i = 1; i <= 5; i++) {
        await idp.advance('6m');
        assert.equal(await appClock(url), 1768478400000 + i * 360000, `after advance ${i}`);
      }
      await idp.setClock({ set: 1768478400000 });
      assert.equal(await appClock(url), 1768478400000, 'a frozen clock follows the fake back');
    } finally {
      await app.stop();
    }
    assert.equal(app.running, false);
  });

  test('a command that cannot start is reported', async () => {
    const app = idp.exec('/nonexistent/app', [], { stdio: 'ignore' });
    await assert.rejects(app.waitForUrl('http://127.0.0.1:9/'), /fakeidp exec exited \(status 127\)/);
  });

  test('stop() stops the command too', async () => {
    const port = await freePort();
    const app = idp.exec(process.execPath, [lifecycleApp], { env: { PORT: String(port) }, stdio: 'ignore' });
    await app.waitForUrl(`http://127.0.0.1:${port}/`);
    const exit = await app.stop();
    assert.equal(exit.code, 143, 'SIGTERM reached the app, whose death by it is exec status 128 + 15');
    await assert.rejects(waitForUrl(`http://127.0.0.1:${port}/`, { timeoutMs: 300 }));
  });
});

// Records the HAR fixtures: a real headless Chromium (Debian's package, never
// a downloaded browser) browses the reference app served by har_world while a
// bundled failure reproduces; the capture is built from the DevTools
// protocol's Network events (raw request and response headers included, as
// Chromium's own "Save all as HAR" has them) and written as HAR 1.2.
//
// usage: node --experimental-websocket record.js HAR_WORLD OUT_DIR
//   writes OUT_DIR/f05-parallel-refresh.har and OUT_DIR/f13-oversized-cookie.har
// Uses no npm package: the protocol is spoken over Node's WebSocket.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const chromium = process.env.CHROMIUM || '/usr/bin/chromium';

function lines(stream, onLine) {
  readline.createInterface({ input: stream }).on('line', onLine);
}

function startWorld(bin, idpConfig) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [JSON.stringify(idpConfig)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const urls = {};
    lines(p.stdout, (l) => {
      const m = /^(idp|app) (\S+)$/.exec(l);
      if (m) urls[m[1]] = m[2];
      if (urls.idp && urls.app) resolve({ proc: p, ...urls });
    });
    p.on('exit', (code) => reject(new Error('har_world exited ' + code)));
  });
}

function startChromium(profile) {
  return new Promise((resolve, reject) => {
    const p = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-extensions', '--remote-debugging-port=0',
      '--user-data-dir=' + profile, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
    lines(p.stderr, (l) => {
      const m = /DevTools listening on (ws:\S+)/.exec(l);
      if (m) resolve({ proc: p, ws: m[1] });
    });
    p.on('exit', (code) => reject(new Error('chromium exited ' + code)));
  });
}

class Cdp {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.next = 1;
    this.pending = new Map();
    this.handlers = [];
    this.ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.id && this.pending.has(msg.id)) {
        const { resolve, reject } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) reject(new Error(msg.error.message)); else resolve(msg.result);
      } else if (msg.method) {
        for (const h of this.handlers) h(msg);
      }
    };
  }
  open() {
    return new Promise((resolve, reject) => { this.ws.onopen = resolve; this.ws.onerror = reject; });
  }
  send(method, params = {}, sessionId) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }
  on(h) { this.handlers.push(h); }
}

// HAR 1.2 from Network events: one entry per request and per redirect hop.
class HarBuilder {
  constructor() {
    this.entries = [];
    this.open = new Map();      // requestId -> entry in progress
    this.extraReq = new Map();  // requestId -> [headers…] from requestWillBeSentExtraInfo
    this.extraResp = new Map(); // requestId -> [headers…] from responseReceivedExtraInfo
  }
  static headers(obj) {
    const out = [];
    for (const [name, value] of Object.entries(obj || {}))
      for (const v of String(value).split('\n')) out.push({ name, value: v });
    return out;
  }
  finishResponse(entry, response) {
    entry.response = {
      status: response.status, statusText: response.statusText || '', httpVersion: 'HTTP/1.1',
      headers: HarBuilder.headers(response.headers), cookies: [],
      content: { size: 0, mimeType: response.mimeType || '' },
      redirectURL: (response.headers && (response.headers.Location || response.headers.location)) || '',
      headersSize: -1, bodySize: -1,
    };
  }
  event(msg) {
    const p = msg.params;
    switch (msg.method) {
      case 'Network.requestWillBeSent': {
        const prev = this.open.get(p.requestId);
        if (prev && p.redirectResponse) {
          this.finishResponse(prev, p.redirectResponse);
          prev.time = Math.max(0, (p.timestamp - prev._t0) * 1000);
          this.entries.push(prev);
        }
        const url = new URL(p.request.url);
        const entry = {
          startedDateTime: new Date(p.wallTime * 1000).toISOString(),
          time: 0,
          request: {
            method: p.request.method, url: p.request.url, httpVersion: 'HTTP/1.1',
            headers: HarBuilder.headers(p.request.headers), cookies: [],
            queryString: [...url.searchParams].map(([name, value]) => ({ name, value })),
            headersSize: -1, bodySize: p.request.postData ? p.request.postData.length : 0,
          },
          cache: {}, timings: { send: 0, wait: 0, receive: 0 },
          _resourceType: (p.type || 'other').toLowerCase(),
          _t0: p.timestamp, _id: p.requestId, _hop: prev && p.redirectResponse ? prev._hop + 1 : 0,
        };
        if (p.request.postData)
          entry.request.postData = { mimeType: p.request.headers['Content-Type'] || '', text: p.request.postData };
        this.open.set(p.requestId, entry);
        break;
      }
      case 'Network.requestWillBeSentExtraInfo': {
        const q = this.extraReq.get(p.requestId) || [];
        q.push(p.headers);
        this.extraReq.set(p.requestId, q);
        break;
      }
      case 'Network.responseReceivedExtraInfo': {
        const q = this.extraResp.get(p.requestId) || [];
        q.push(p.headers);
        this.extraResp.set(p.requestId, q);
        break;
      }
      case 'Network.responseReceived': {
        const entry = this.open.get(p.requestId);
        if (entry) {
          entry._resourceType = (p.type || entry._resourceType).toLowerCase();
          entry._response = p.response;
        }
        break;
      }
      case 'Network.loadingFinished':
      case 'Network.loadingFailed': {
        const entry = this.open.get(p.requestId);
        if (!entry) break;
        this.open.delete(p.requestId);
        if (entry._response) this.finishResponse(entry, entry._response);
        else entry.response = { status: 0, statusText: p.errorText || '', httpVersion: '', headers: [],
          cookies: [], content: { size: 0, mimeType: '' }, redirectURL: '', headersSize: -1, bodySize: -1,
          _error: p.errorText };
        entry.time = Math.max(0, (p.timestamp - entry._t0) * 1000);
        entry.timings.wait = entry.time;
        this.entries.push(entry);
        break;
      }
    }
  }
  har() {
    // The raw headers (Cookie, Set-Cookie) come in "ExtraInfo" events, one
    // per hop of a request id, in hop order but not in step with the hops.
    const entries = this.entries.map((e) => {
      const rq = (this.extraReq.get(e._id) || [])[e._hop];
      if (rq) e.request.headers = HarBuilder.headers(rq);
      const rs = (this.extraResp.get(e._id) || [])[e._hop];
      if (rs && e.response.status) e.response.headers = HarBuilder.headers(rs);
      const { _t0, _id, _hop, _response, ...rest } = e;
      return rest;
    }).sort((a, b) => a.startedDateTime.localeCompare(b.startedDateTime));
    return {
      log: {
        version: '1.2',
        creator: { name: 'fakeidp tests/har/record.js (Chromium DevTools protocol)', version: '1' },
        browser: { name: 'Chromium', version: '' },
        pages: [],
        entries,
      },
    };
  }
}

async function admin(world, method, p, body) {
  const r = await fetch(world.idp + p, {
    method, headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(method + ' ' + p + ' -> ' + r.status + ' ' + (await r.text()));
  return r.json();
}

async function record(worldBin, idpConfig, script, out, reproduced) {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const result = await recordOnce(worldBin, idpConfig, script, out);
    if (reproduced(result)) return;
    console.log('attempt ' + attempt + ' did not reproduce the failure; again');
  }
  throw new Error(out + ': the failure did not reproduce in 10 attempts');
}

async function recordOnce(worldBin, idpConfig, script, out) {
  const world = await startWorld(worldBin, idpConfig);
  if (process.env.RECORD_DEBUG) console.error('world', world.app);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'har-chromium-'));
  const browser = await startChromium(profile);
  if (process.env.RECORD_DEBUG) console.error('chromium', browser.ws);
  const cdp = new Cdp(browser.ws);
  await cdp.open();
  if (process.env.RECORD_DEBUG) console.error('cdp open');
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
  if (process.env.RECORD_DEBUG) console.error('attached', sessionId);
  const har = new HarBuilder();
  let loaded = null;
  cdp.on((msg) => {
    if (msg.sessionId !== sessionId) return;
    if (msg.method.startsWith('Network.')) har.event(msg);
    if (msg.method === 'Page.loadEventFired' && loaded) { loaded(); loaded = null; }
  });
  await cdp.send('Network.enable', {}, sessionId);
  await cdp.send('Page.enable', {}, sessionId);
  const page = {
    async go(p) {
      if (process.env.RECORD_DEBUG) console.error('go', p);
      const done = new Promise((resolve) => { loaded = resolve; });
      await cdp.send('Page.navigate', { url: world.app + p }, sessionId);
      await done;
    },
    async run(expr) {
      if (process.env.RECORD_DEBUG) console.error('run', expr);
      const r = await cdp.send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true }, sessionId);
      return r.result.value;
    },
    fault: (rule) => admin(world, 'POST', '/_fakeidp/faults', rule),
    pause: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
  const result = await script(page);
  await page.pause(300); // late loadingFinished events
  fs.writeFileSync(out, JSON.stringify(har.har(), null, 2) + '\n');
  await cdp.send('Browser.close').catch(() => {});
  browser.proc.kill();
  world.proc.stdin.end();
  await new Promise((r) => world.proc.on('exit', r));
  await new Promise((r) => (browser.proc.exitCode !== null ? r() : browser.proc.on('exit', r)));
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(out + ': ' + har.entries.length + ' requests; ' + JSON.stringify(result));
  return result;
}

async function main() {
  const [worldBin, outDir] = process.argv.slice(2);
  if (!worldBin || !outDir) {
    console.error('usage: node --experimental-websocket record.js HAR_WORLD OUT_DIR');
    process.exit(2);
  }
  // F5: three API calls at once after the access token expired; strict
  // refresh tokens, no de-duplication in the app (the reference app's
  // default). The barrier holds the three refreshes at fakeidp so they
  // overlap the way a slow production IdP round trip makes them overlap.
  await record(worldBin, { settings: { refresh_mode: 'strict', access_ttl: '3s' } }, async (page) => {
    await page.go('/login');
    await page.pause(1200);
    await page.pause(4000); // past the 3 s access-token lifetime
    await page.fault({ action: 'barrier', route: 'authenticate', grant_type: 'refresh_token', hold: 3 });
    const race = await page.run(
      "Promise.all(['/api/me','/api/projects','/api/settings'].map(p => fetch(p).then(r => r.status)))");
    await page.pause(1200);
    const after = await page.run("fetch('/api/me').then(r => r.status)");
    return { race, after };
  }, path.join(outDir, 'f05-parallel-refresh.har'),
  // Reproduced: one refresh won, and a loser's cookie deletion landed last.
  (r) => r.race.filter((s) => s === 200).length === 1 && r.after === 401);
  // F13: claims grow on refresh until the session cookie passes 4096 bytes;
  // Chromium drops that Set-Cookie and keeps the old cookie, whose refresh
  // token is spent.
  await record(worldBin, {
    settings: { refresh_mode: 'strict', access_ttl: '3s' },
    faults: [{ action: 'token', route: 'authenticate', grant_type: 'refresh_token',
               bloat: { permissions: 60, feature_flags: 40 } }],
  }, async (page) => {
    await page.go('/login');
    await page.pause(1200);
    await page.pause(4000); // past the 3 s access-token lifetime
    const first = await page.run("fetch('/api/me').then(r => r.status)");
    await page.pause(1200);
    await page.pause(4000); // past the 3 s access-token lifetime
    const second = await page.run("fetch('/api/me').then(r => r.status)");
    return { first, second };
  }, path.join(outDir, 'f13-oversized-cookie.har'),
  (r) => r.first === 200 && r.second === 401);
}

main().catch((e) => { console.error(e); process.exit(1); });

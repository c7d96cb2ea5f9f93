// The Chromium engine's driver: `fakeidp run --browser chromium` starts it
// (through start.sh) for each variant and sends it the variant's browser
// requests as JSON lines on stdin; it answers each with one JSON line on
// stdout. It drives headless Debian Chromium (/usr/bin/chromium or
// $CHROMIUM) through puppeteer-core (pinned in package-lock.json), with a
// fresh profile, every host name mapped to 127.0.0.1, background networking
// off, third-party cookies blocked or allowed as the variant says, and the
// page clock following the scenario's virtual clock from the first script on.
//
// Requests: {"op": "start", ...knobs} first, then "go", "cookies",
// "set_cookies", "clear_cookies", "clock", "close". Every answer carries
// "cookies" (the jar, from the DevTools Storage domain) and "notes" (lines
// for the variant's timeline). See harness/world/chromium.c for the C side.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const CROSS_SITE_HOST = 'cross-site.test';
// The real SPA SDK, pinned in package-lock.json, served into the SPA's page.
const authkitPath = createRequire(import.meta.url).resolve('@workos-inc/authkit-js').replace(/index\.js$/, 'index.mjs');
let spaConfig = null; // set by the first SPA request: where the SPA lives and its client

// The SPA's page (app origin, /spa and /spa/callback): authkit-js's
// createClient, whose state the driver reads from window.__fakeidp. A
// hidden tab (spa_tab hide) skips automatic refreshes, as the SDK's default
// onBeforeAutoRefresh does for document.hidden.
function spaPage(cfg) {
  const json = JSON.stringify(cfg).replace(/</g, '\\u003c');
  return `<!doctype html><meta charset="utf-8"><title>SPA (authkit-js)</title><body>
<script type="module">
import { createClient } from '/__fakeidp/authkit-js.mjs';
const cfg = ${json};
const state = window.__fakeidp = { ready: false, error: null, refreshes: 0, refreshFailures: 0 };
const options = { apiHostname: cfg.apiHostname, port: cfg.port, https: cfg.https, redirectUri: cfg.redirectUri,
  onBeforeAutoRefresh: () => !window.__fakeidpHidden,
  onRefresh: () => { state.refreshes++; },
  onRefreshFailure: () => { state.refreshFailures++; } };
if (cfg.devMode !== null) options.devMode = cfg.devMode;
try {
  state.client = await createClient(cfg.clientId, options);
} catch (e) {
  state.error = String(e && e.message || e);
}
state.ready = true;
</script></body>`;
}

function fulfill(tab, ev, type, body) {
  tab.cdp.send('Fetch.fulfillRequest', { requestId: ev.requestId, responseCode: 200,
    responseHeaders: [{ name: 'Content-Type', value: type }, { name: 'Cache-Control', value: 'no-store' }],
    body: body.toString('base64') }).catch((e) => (tab.notes || notes).push(`serving ${ev.request.url} failed: ${e.message}`));
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const send = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Waits in a page poll on a timer: puppeteer's default polls on
// requestAnimationFrame, which a background tab never runs (a tab is in the
// background once another is opened), so a condition that became true after
// the first check went unseen until the timeout.
const POLL_MS = 50;

// ---- pages of other sites (a cross-site link, an embedding page) ---------
const server = http.createServer((req, res) => {
  req.resume();
  const url = new URL(req.url, 'http://x');
  const frame = url.searchParams.get('frame');
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(frame ? '<!doctype html><title>embedder</title><body><iframe name="app" src="about:blank" ' +
                  'style="width:100%;height:600px"></iframe></body>'
                : '<!doctype html><title>another site</title><body></body>');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const serverPort = server.address().port;

let browser = null;
let browserCdp = null;
let work = null;
let knobs = {};
let offset = 0; // virtual time minus real time, for page scripts
let notes = []; // lines for a timeline while no request is running
const tabs = new Map(); // name -> tab

const clockScript = (ms) => `(() => {
  const Real = Date;
  if (Real.__fakeidp) { Real.__fakeidp.offset = ${ms}; return; }
  const state = { offset: ${ms} };
  function FakeDate(...args) {
    if (!new.target) return new Real(Real.now() + state.offset).toString();
    return args.length ? new Real(...args) : new Real(Real.now() + state.offset);
  }
  FakeDate.prototype = Real.prototype;
  FakeDate.now = () => Real.now() + state.offset;
  FakeDate.parse = Real.parse;
  FakeDate.UTC = Real.UTC;
  Object.defineProperty(FakeDate, '__fakeidp', { value: state });
  globalThis.Date = FakeDate;
})();`;

// Sets the page clock: new documents get it before any of their scripts,
// documents already open get it now.
async function setClock(virtualNow) {
  if (typeof virtualNow !== 'number') return;
  offset = virtualNow - Date.now();
  for (const tab of tabs.values()) {
    if (!tab.cdp) continue;
    if (tab.clockScript) await tab.cdp.send('Page.removeScriptToEvaluateOnNewDocument', { identifier: tab.clockScript }).catch(() => {});
    tab.clockScript = (await tab.cdp.send('Page.addScriptToEvaluateOnNewDocument', { source: clockScript(offset) })).identifier;
    for (const frame of tab.page.frames()) await frame.evaluate(clockScript(offset)).catch(() => {});
  }
}

function pageUrl(text) { // a page of another site is served here
  const url = new URL(text);
  url.port = String(serverPort);
  return url.toString();
}

async function openTab(name) {
  const page = await browser.newPage();
  const cdp = await page.createCDPSession();
  const tab = { name, page, cdp, frameId: null, nav: null, clockScript: null };
  // What the page's scripts complain about goes into the timeline.
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') (tab.notes || notes).push(`page console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => (tab.notes || notes).push(`page error: ${e.message}`));
  await cdp.send('Network.enable');
  await cdp.send('Page.enable');
  // Documents (to stop at sign-in), and the favicon, which the browser asks
  // for on its own and which an app would treat as one more protected page.
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*', resourceType: 'Document', requestStage: 'Request' },
    { urlPattern: '*/favicon.ico*', requestStage: 'Request' }, { urlPattern: '*/__fakeidp/*', requestStage: 'Request' }] });
  cdp.on('Network.responseReceivedExtraInfo', (ev) => blocked(tab, ev));
  cdp.on('Fetch.requestPaused', (ev) => paused(tab, ev));
  // Requests not yet answered, for a diagnosis when a page hangs.
  tab.pending = new Map();
  cdp.on('Network.requestWillBeSent', (ev) => {
    tab.pending.set(ev.requestId, { method: ev.request.method, url: ev.request.url, at: Date.now() });
  });
  const answered = (ev) => tab.pending.delete(ev.requestId);
  cdp.on('Network.loadingFinished', answered);
  cdp.on('Network.loadingFailed', answered);
  cdp.on('Network.requestWillBeSent', (ev) => {
    const n = tab.nav;
    if (!n || ev.type !== 'Document' || ev.frameId !== tab.frameId) return;
    n.requestId = ev.requestId;
    if (ev.redirectResponse) n.last = { status: ev.redirectResponse.status, url: ev.redirectResponse.url };
  });
  cdp.on('Network.responseReceived', (ev) => {
    const n = tab.nav;
    if (!n || ev.type !== 'Document' || ev.frameId !== tab.frameId) return;
    n.last = { status: ev.response.status, url: ev.response.url };
    n.finalId = ev.requestId;
  });
  cdp.on('Network.loadingFinished', async (ev) => {
    const n = tab.nav;
    if (!n || ev.requestId !== n.finalId) return;
    try {
      const { body, base64Encoded } = await cdp.send('Network.getResponseBody', { requestId: ev.requestId });
      n.body = base64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
    } catch { n.body = ''; }
    n.finish();
  });
  cdp.on('Network.loadingFailed', (ev) => {
    const n = tab.nav;
    if (!n || ev.type !== 'Document' || ev.requestId !== n.requestId) return;
    if (!n.stoppedAt) n.error = ev.errorText;
    n.finish();
  });
  tab.clockScript = (await cdp.send('Page.addScriptToEvaluateOnNewDocument', { source: clockScript(offset) })).identifier;
  const { frameTree } = await cdp.send('Page.getFrameTree');
  tab.frameId = frameTree.frame.id;
  if (knobs.embedded_in) { // the app lives in an iframe of the embedding page
    const top = new URL(pageUrl(knobs.embedded_in));
    top.searchParams.set('frame', '1');
    tab.frameId = frameTree.frame.id;
    await page.goto(top.toString(), { waitUntil: 'load' });
    const tree = (await cdp.send('Page.getFrameTree')).frameTree;
    tab.frameId = tree.childFrames[0].frame.id;
  }
  tabs.set(name, tab);
  return tab;
}

function frameOf(tab) {
  return tab.page.frames().find((f) => f._id === tab.frameId) ||
    (knobs.embedded_in ? tab.page.frames().find((f) => f !== tab.page.mainFrame()) : tab.page.mainFrame());
}

// Why Chromium refused a Set-Cookie, in the words the browser model uses
// (so a timeline expectation reads the same in both engines), with
// Chromium's own reason in brackets.
function blocked(tab, ev) {
  for (const b of ev.blockedCookies || []) {
    const name = b.cookie ? b.cookie.name : (b.cookieLine || '').split('=')[0].trim();
    const reasons = b.blockedReasons || [];
    let why = null;
    if (reasons.includes('SecureOnly')) why = `Secure cookie ${name} set over http:// (an insecure origin)`;
    else if (reasons.some((r) => /ThirdParty|UserPreferences/.test(r))) why = `${name}: third-party cookie blocked`;
    else if (reasons.includes('SameSiteStrict')) why = `${name}: SameSite=Strict on a cross-site request`;
    else if (reasons.some((r) => /SameSiteLax|SameSiteUnspecifiedTreatedAsLax/.test(r))) why = `${name}: SameSite=Lax on a cross-site subrequest`;
    else if (reasons.includes('SameSiteNoneInsecure')) why = `SameSite=None cookie ${name} without Secure`;
    else if (reasons.includes('NameValuePairExceedsMaxSize')) {
      const line = b.cookieLine || '';
      const pair = line.split(';')[0];
      why = `${name} is ${pair.length - 1} bytes, over the 4096-byte limit`;
    } else if (reasons.includes('InvalidDomain')) why = `${name}: Domain does not cover the host`;
    else if (reasons.includes('InvalidPrefix')) why = `${name}: a __Host-/__Secure- prefix rule is broken`;
    else if (reasons.includes('OverwriteSecure')) why = `${name}: an http response may not overwrite a Secure cookie`;
    if (reasons.length) (tab.notes || notes).push(`cookie rejected: ${why || name} (Chromium: ${reasons.join(', ')})`);
  }
}

// Stops a navigation at sign-in unless it signs in, and a second trip
// through authorize while signing in (a login loop), as the model does.
function paused(tab, ev) {
  const asked = new URL(ev.request.url);
  if (asked.pathname.startsWith('/__fakeidp/')) {
    fulfill(tab, ev, 'text/javascript', readFileSync(authkitPath));
    return;
  }
  if (ev.resourceType === 'Document' && spaConfig && asked.origin === spaConfig.appOrigin &&
      /^\/spa(\/|$)/.test(asked.pathname)) {
    fulfill(tab, ev, 'text/html; charset=utf-8', Buffer.from(spaPage(spaConfig)));
    return;
  }
  if (ev.resourceType !== 'Document') {
    tab.cdp.send('Fetch.failRequest', { requestId: ev.requestId, errorReason: 'Aborted' }).catch(() => {});
    return;
  }
  const n = tab.nav;
  let stop = false;
  if (n && ev.frameId === tab.frameId) {
    const url = new URL(ev.request.url);
    const authorize = url.pathname === '/user_management/authorize';
    const login = authorize || (url.pathname === '/login' && url.hostname !== knobs.idp_host);
    const first = !n.started;
    n.started = true;
    if (!first && login && !n.followLogin) stop = true;
    if (n.followLogin && authorize && ev.request.method === 'GET' && ++n.authorizeGets > 1) {
      stop = true;
      (tab.notes || notes).push('login loop: sent back to sign in right after signing in');
    }
    if (stop) n.stoppedAt = ev.request.url;
  }
  const call = stop ? tab.cdp.send('Fetch.failRequest', { requestId: ev.requestId, errorReason: 'Aborted' })
                    : tab.cdp.send('Fetch.continueRequest', { requestId: ev.requestId });
  call.catch(() => {});
  if (stop) setTimeout(() => n.finish(), 50);
}

// Runs trigger (which starts a navigation of the tab's frame) and waits for
// its last document: status, URL, body, or where it was stopped.
async function navigate(tab, trigger, followLogin, authorizeGets = 0) {
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const n = { followLogin, authorizeGets, started: false, last: { status: 0, url: '' }, body: '',
              error: '', stoppedAt: '', finish: () => finish() };
  tab.nav = n;
  const timer = setTimeout(() => { n.error = n.error || 'timeout: no page after 20 s'; finish(); }, 20000);
  try { await trigger(); } catch (e) { n.error = String(e.message || e); finish(); }
  await done;
  clearTimeout(timer);
  tab.nav = null;
  if (!n.stoppedAt && !n.error) {
    await frameOf(tab).waitForFunction(() => document.readyState === 'complete', { timeout: 5000, polling: POLL_MS }).catch(() => {});
  }
  return n;
}

async function typed(tab, url, followLogin) {
  return navigate(tab, () => tab.cdp.send('Page.navigate', { url, frameId: tab.frameId }), followLogin);
}

// Makes the tab show a page of origin (the app's, or another site's).
async function ensurePage(tab, from) {
  const want = new URL(from.hostname === CROSS_SITE_HOST ? pageUrl(from.toString()) : from.toString());
  const frame = frameOf(tab);
  let here = null;
  try { here = new URL(frame.url()); } catch { here = null; }
  if (!here || here.origin !== want.origin) await typed(tab, want.toString(), false);
  return frameOf(tab);
}

function headerObject(lines) {
  const out = {};
  for (const line of lines || []) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim();
    if (i > 0 && !/^(x-request-id|cookie)$/i.test(name)) out[name] = line.slice(i + 1).trim();
  }
  return out;
}

// The tab a request runs in: the one it names (SPA tabs), else the main tab,
// or, while that one is busy with a navigation of a parallel step, a spare
// tab of the same browser (the same cookies), opened when first needed.
async function pickTab(req) {
  if (req.tab) {
    const named = tabs.get(req.tab) || await openTab(req.tab);
    named.busy = true;
    return named;
  }
  for (let i = 0; ; i++) {
    const name = i ? `parallel-${i}` : 'main';
    const tab = tabs.get(name);
    // fetch() calls share a page; a navigation needs the tab to itself.
    if (tab && tab.cdp && req.subrequest && !tab.busy) return tab;
    if (!tab) { // reserved at once: requests started together get a tab each
      tabs.set(name, { busy: true });
      const opened = await openTab(name);
      opened.busy = true;
      return opened;
    }
    if (!tab.busy) {
      tab.busy = true;
      return tab;
    }
  }
}

async function go(req, ctx) {
  const tab = await pickTab(req);
  const owned = tab.busy;
  tab.notes = ctx.notes;
  try {
    return await goIn(tab, req);
  } finally {
    if (owned) tab.busy = false;
    tab.notes = null;
  }
}

async function goIn(tab, req) {
  const method = req.method || 'GET';
  if (req.subrequest) {
    const frame = await ensurePage(tab, new URL(req.initiator || req.app_origin + '/'));
    const init = { method, headers: headerObject(req.headers), credentials: req.credentials ? 'include' : 'same-origin',
                   redirect: 'manual' };
    if (req.body != null && method !== 'GET') init.body = req.body;
    return frame.evaluate(async (url, init) => {
      try {
        const res = await fetch(url, init);
        return { status: res.type === 'opaqueredirect' ? 302 : res.status, url: res.url || url, body: await res.text() };
      } catch (e) {
        return { status: 0, url, body: '', error: `TypeError: ${e.message}` };
      }
    }, req.url, init);
  }
  const headers = headerObject(req.headers);
  const custom = Object.keys(headers).filter((h) => !/^content-type$/i.test(h));
  let from = req.initiator ? new URL(req.initiator) : null;
  if (!from && method !== 'GET') from = new URL(`${req.app_origin}/`); // a form on the app's page
  let n;
  if (custom.length) {
    // A POST with headers a form cannot send (a Server Action): the page's fetch.
    const frame = await ensurePage(tab, from || new URL(`${req.app_origin}/`));
    return frame.evaluate(async (url, init) => {
      const res = await fetch(url, init);
      return { status: res.status, url: res.url, body: await res.text() };
    }, req.url, { method, headers, body: req.body, credentials: 'include' });
  } else if (!from) {
    n = await typed(tab, req.url, req.follow_login);
  } else {
    const frame = await ensurePage(tab, from);
    const fields = method === 'POST' ? [...new URLSearchParams(req.body || '')] : null;
    n = await navigate(tab, () => frame.evaluate((url, fields, byScript) => {
      if (fields) {
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = url;
        for (const [name, value] of fields) {
          const input = document.createElement('input');
          input.type = 'hidden';
          input.name = name;
          input.value = value;
          form.append(input);
        }
        document.body.append(form);
        form.submit();
      } else if (byScript) {
        location.assign(url);
      } else {
        const a = document.createElement('a');
        a.href = url;
        a.textContent = 'go';
        document.body.append(a);
        a.click();
      }
    }, req.url, fields, !!req.by_script), req.follow_login);
  }
  // The fake's sign-in page (setting login_page): the user submits it.
  if (req.follow_login && !n.stoppedAt && !n.error && n.last.status === 200 &&
      new URL(n.last.url).pathname === '/user_management/authorize' && n.body.includes('id="fakeidp-login"')) {
    tab.notes.push('sign-in page: the form is submitted');
    const frame = frameOf(tab);
    n = await navigate(tab, () => frame.evaluate(() => document.querySelector('#fakeidp-login').submit()),
                       true, n.authorizeGets);
  }
  return { status: n.last.status, url: n.last.url, body: n.stoppedAt ? '' : n.body, error: n.error,
           stopped_at: n.stoppedAt, login_redirect: !!n.stoppedAt };
}

// ---- SPA steps: the real authkit-js in a tab of its own --------------------

async function spaState(tab) {
  return frameOf(tab).evaluate(() => {
    const s = window.__fakeidp || {};
    return { ready: !!s.ready, authenticated: !!(s.client && s.client.getUser()), sdk_error: s.error || '',
             refreshes: s.refreshes || 0, refresh_failures: s.refreshFailures || 0,
             secure_context: window.isSecureContext,
             has_session_cookie: document.cookie.includes('workos-has-session'), url: location.href };
  });
}

// What a page that is not ready is doing: where it is, whether its script
// ran, and the requests of the tab still unanswered.
async function pageDiagnosis(tab) {
  const page = await Promise.race([
    frameOf(tab).evaluate(() => ({ url: location.href, readyState: document.readyState, started: !!window.__fakeidp })),
    sleep(2000).then(() => null)]).catch(() => null);
  const now = Date.now();
  const pending = [...tab.pending.values()].filter((r) => now - r.at > 500)
    .map((r) => `${r.method} ${r.url} unanswered for ${((now - r.at) / 1000).toFixed(1)} s`);
  const where = page ? `${page.url} (${page.readyState}), its script ${page.started ? 'started' : 'never ran'}`
                     : 'the page does not answer';
  return [where, ...pending].join('; ');
}

async function spaReady(tab) {
  try {
    await frameOf(tab).waitForFunction(() => window.__fakeidp && window.__fakeidp.ready, { timeout: 45000, polling: POLL_MS });
  } catch (e) {
    throw new Error(`${e.message}: ${await pageDiagnosis(tab)}`);
  }
  return spaState(tab);
}

async function spaLoad(tab) {
  await tab.cdp.send('Page.navigate', { url: `${spaConfig.appOrigin}/spa`, frameId: tab.frameId });
  await sleep(100);
  return spaReady(tab);
}

async function spa(req) {
  spaConfig = req.config;
  const name = `spa:${req.tab || 'main'}`;
  let tab = tabs.get(name);
  if (req.action === 'close') {
    if (tab) { tabs.delete(name); await tab.page.close().catch(() => {}); }
    return { closed: true };
  }
  if (!tab) tab = await openTab(name);
  switch (req.action) {
    case 'load': return spaLoad(tab);
    case 'sign_in': {
      await spaLoad(tab);
      const outcome = await frameOf(tab).evaluate(async () => {
        try { await window.__fakeidp.client.signIn(); return ''; } catch (e) { return `${e.name}: ${e.message}`; }
      }).catch(() => ''); // the page navigates away while signIn() runs
      if (outcome) return { ...(await spaState(tab)), sdk_error: outcome };
      await frameOf(tab).waitForFunction(() => location.pathname === '/spa/callback' || !!(window.__fakeidp && window.__fakeidp.error),
        { timeout: 20000, polling: POLL_MS }).catch(() => {});
      await sleep(100);
      return spaReady(tab);
    }
    case 'hide': case 'show':
      await frameOf(tab).evaluate((hidden) => { window.__fakeidpHidden = hidden; }, req.action === 'hide');
      return spaState(tab);
    case 'state': return spaState(tab);
    case 'token':
      return frameOf(tab).evaluate(async () => {
        try { return { token: await window.__fakeidp.client.getAccessToken() }; } catch (e) {
          return { token: null, token_error: `${e.name}: ${e.message}` };
        }
      });
    default: throw new Error(`unknown spa action ${req.action}`);
  }
}

async function start(req) {
  knobs = req;
  if (!existsSync(chromiumPath)) throw new Error(`Chromium not found at ${chromiumPath}; install Debian's chromium package (scripts/deps.sh --test) or set CHROMIUM`);
  work = mkdtempSync(path.join(os.tmpdir(), 'fakeidp-chromium-'));
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions',
    '--no-proxy-server', '--host-resolver-rules=MAP * 127.0.0.1',
    // Frames stay in the page's process, so one DevTools session sees an
    // embedded app's requests (site isolation does not change cookie rules).
    '--disable-features=IsolateOrigins,site-per-process,LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests', '--disable-site-isolation-trials'];
  if (req.secure_origins && req.secure_origins.length) args.push(`--unsafely-treat-insecure-origin-as-secure=${req.secure_origins.join(',')}`);
  // The profile's cookie settings, pinned: third-party cookies blocked (a
  // fresh profile's default, measured) or allowed, as the variant says.
  const block = req.block_third_party !== false;
  mkdirSync(path.join(work, 'profile', 'Default'), { recursive: true });
  writeFileSync(path.join(work, 'profile', 'Default', 'Preferences'), JSON.stringify({
    profile: { cookie_controls_mode: block ? 1 : 0, block_third_party_cookies: block,
               default_content_setting_values: { cookies: 1 } },
  }));
  browser = await puppeteer.launch({ executablePath: chromiumPath, headless: true, userDataDir: path.join(work, 'profile'), args });
  browserCdp = await browser.target().createCDPSession();
  offset = req.now - Date.now();
  await openTab('main');
  return { version: await browser.version() };
}

async function cookies() {
  if (!browserCdp) return [];
  const { cookies: jar } = await browserCdp.send('Storage.getCookies');
  return jar.map((c) => ({ name: c.name, value: c.value, domain: c.domain, path: c.path, secure: c.secure,
    http_only: c.httpOnly, same_site: c.sameSite || '', expires: c.session ? -1 : c.expires }));
}

async function handle(req, ctx) {
  await setClock(req.now);
  for (const c of req.expire || []) {
    const tab = tabs.get('main');
    await tab.cdp.send('Network.deleteCookies', { name: c.name, domain: c.domain, path: c.path }).catch(() => {});
  }
  switch (req.op) {
    case 'start': return start(req);
    case 'go': return go(req, ctx);
    case 'clock': case 'cookies': return {};
    case 'spa': return spa(req);
    case 'clear_cookies': await browserCdp.send('Storage.clearCookies'); return {};
    case 'set_cookies':
      await browserCdp.send('Storage.clearCookies');
      await browserCdp.send('Storage.setCookies', { cookies: req.cookies.map((c) => {
        const param = { name: c.name, value: c.value, path: c.path, secure: c.secure, httpOnly: c.http_only };
        if (c.same_site) param.sameSite = c.same_site;
        if (c.expires > 0) param.expires = c.expires;
        if (c.domain.startsWith('.')) param.domain = c.domain;
        else param.url = `${c.secure ? 'https' : 'http'}://${c.domain}${c.path}`;
        return param;
      }) });
      return {};
    default: throw new Error(`unknown op ${req.op}`);
  }
}

let closing = null;
function close() {
  closing = closing || (async () => {
    if (browser) await browser.close().catch(() => {});
    server.close();
    try { if (work) rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch { /* a temp dir */ }
  })();
  return closing;
}

// Requests run at once (parallel steps); each answer carries its request's id.
const lines = readline.createInterface({ input: process.stdin });
let started = Promise.resolve();
lines.on('line', (line) => {
  let req;
  try { req = JSON.parse(line); } catch { send({ error: 'not a JSON line' }); return; }
  const run = async () => {
    if (req.op === 'close') { await close(); send({ id: req.id, closed: true }); process.exit(0); }
    const ctx = { notes: [] };
    try {
      const answer = await handle(req, ctx);
      send({ ...answer, id: req.id, cookies: await cookies(), notes: [...notes.splice(0), ...ctx.notes] });
    } catch (e) {
      send({ error: String(e.message || e), id: req.id, cookies: await cookies().catch(() => []),
             notes: [...notes.splice(0), ...ctx.notes] });
    }
  };
  // The browser starts before anything else runs.
  if (req.op === 'start') started = run();
  else started.then(run);
});
lines.on('close', () => { started.then(close).then(() => process.exit(0)); });

// The differential cookie suite: runs every case of cookie-cases.json in
// headless Chromium (Debian's /usr/bin/chromium, driven by puppeteer-core)
// and compares what Chromium sent and stored with what the browser model did
// on the same table (model_cases, the C side). A case that disagrees fails
// unless it carries "deliberate": "why" (a documented difference); a case so
// marked fails when the engines agree.
//
// usage: node differential.mjs /path/to/model_cases [cookie-cases.json] [case-name]
//
// Each case's hops are served by two local servers (http and https with a
// self-signed certificate made by openssl for this run; Chromium ignores
// certificate errors), and --host-resolver-rules maps every host name to
// 127.0.0.1, so app.example.test, idp.test and me.github.io are real sites
// to Chromium while only loopback is reachable.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const [modelBinary, casesFile = path.join(here, 'cookie-cases.json'), only] = process.argv.slice(2);
if (!modelBinary) {
  console.error('usage: node differential.mjs /path/to/model_cases [cookie-cases.json] [case-name]');
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  const message = `browser_differential: Chromium not found at ${chromiumPath}; ` +
    'install the Debian package with scripts/deps.sh --test (apt-get install chromium) or set CHROMIUM';
  if (process.env.CI === 'true') {
    console.error(`${message} (CI=true: failing instead of skipping)`);
    process.exit(1);
  }
  console.error(`${message}: SKIPPED`);
  process.exit(77);
}

const table = JSON.parse(readFileSync(casesFile, 'utf8'));
const cases = table.cases.filter((c) => !only || c.name === only);
const expand = (text) => text.replace(/\$x\((\d+)\)/g, (_, n) => 'x'.repeat(Number(n)));

// ---- the model's answers -------------------------------------------------
const modelArgs = [casesFile];
if (only) modelArgs.push(only);
const model = new Map(JSON.parse(execFileSync(modelBinary, modelArgs, { maxBuffer: 64 << 20 }))
  .cases.map((c) => [c.name, c]));

// ---- local servers -------------------------------------------------------
const work = mkdtempSync(path.join(os.tmpdir(), 'fakeidp-browser-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
  '-subj', '/CN=fakeidp-browser-test', '-keyout', path.join(work, 'key.pem'),
  '-out', path.join(work, 'cert.pem')], { stdio: 'ignore' });

const answers = new Map(); // hop key -> { set: [...], location, status }
let recorded = [];
function handle(scheme) {
  return (req, res) => {
    const url = new URL(req.url, `${scheme}://${req.headers.host}`);
    const host = req.headers.host.replace(/:\d+$/, '');
    const origin = req.headers.origin;
    const headers = { 'Content-Type': 'text/html' };
    if (origin) {
      headers['Access-Control-Allow-Origin'] = origin;
      headers['Access-Control-Allow-Credentials'] = 'true';
    }
    const key = url.searchParams.get('k');
    req.resume();
    if (!key) { // a page that starts a step, or anything else Chromium asks for
      res.writeHead(url.searchParams.has('page') ? 200 : 404, headers);
      res.end('<!doctype html><title>page</title><body></body>');
      return;
    }
    recorded.push(`${req.method} ${scheme}://${host}${url.pathname}: ${req.headers.cookie || ''}`);
    const answer = answers.get(key) || { set: [] };
    if (answer.set.length) headers['Set-Cookie'] = answer.set;
    if (answer.location) headers.Location = answer.location;
    res.writeHead(answer.location ? answer.status : 200, headers);
    res.end('<!doctype html><title>ok</title><body>ok</body>');
  };
}
const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
const httpServer = http.createServer(handle('http'));
const httpsServer = https.createServer({ key: readFileSync(path.join(work, 'key.pem')),
  cert: readFileSync(path.join(work, 'cert.pem')) }, handle('https'));
const ports = { http: await listen(httpServer), https: await listen(httpsServer) };

// Table URLs have no port; Chromium's get the port of the server for their scheme.
function live(text, key) {
  const url = new URL(expand(text));
  url.port = String(ports[url.protocol.replace(':', '')]);
  if (key) url.searchParams.set('k', key);
  return url.toString();
}

// ---- Chromium ------------------------------------------------------------
const profile = path.join(work, 'profile');
const browser = await puppeteer.launch({
  executablePath: chromiumPath,
  headless: true,
  userDataDir: profile,
  acceptInsecureCerts: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--ignore-certificate-errors', '--host-resolver-rules=MAP * 127.0.0.1'],
});
const cdp = await browser.target().createCDPSession();
const version = await browser.version();

function cookieLine(c) {
  const expires = c.session || c.expires < 0 ? 'session'
    : `${Math.round((c.expires * 1000 - Date.now()) / 86400000)}d`;
  return `${c.name}=${c.value}; domain=${c.domain}; path=${c.path};` +
    `${c.secure ? ' secure;' : ''}${c.httpOnly ? ' httponly;' : ''}` +
    ` samesite=${c.sameSite || 'unspecified'}; expires=${expires}`;
}

async function runStep(page, step, caseIndex, stepIndex) {
  const kind = step.kind || 'navigate';
  step.go.forEach((hop, h) => {
    const next = step.go[h + 1];
    answers.set(`c${caseIndex}s${stepIndex}h${h}`, {
      set: (typeof hop === 'string' ? [] : hop.set || []).map(expand),
      location: next ? live(typeof next === 'string' ? next : next.url, `c${caseIndex}s${stepIndex}h${h + 1}`) : null,
      status: (typeof hop === 'string' ? 0 : hop.status) || 302,
    });
  });
  const first = step.go[0];
  const target = live(typeof first === 'string' ? first : first.url, `c${caseIndex}s${stepIndex}h0`);
  if (!step.from) {
    await page.goto(target, { waitUntil: 'load' });
    return;
  }
  const from = new URL(live(step.from));
  from.searchParams.set('page', '1');
  await page.goto(from.toString(), { waitUntil: 'load' });
  if (kind === 'fetch') {
    await page.evaluate(async (url) => {
      try { await fetch(url, { credentials: 'include' }); } catch { /* the request was still sent */ }
    }, target);
    return;
  }
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.evaluate((url, post) => {
      if (post) {
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = url;
        const input = document.createElement('input');
        input.name = 'x';
        input.value = '1';
        form.append(input);
        document.body.append(form);
        form.submit();
      } else {
        const a = document.createElement('a');
        a.href = url;
        document.body.append(a);
        a.click();
      }
    }, target, kind === 'post'),
  ]);
}

let passed = 0;
let failed = 0;
let deliberate = 0;
const started = Date.now();
for (const [caseIndex, c] of table.cases.entries()) {
  if (only && c.name !== only) continue;
  await cdp.send('Storage.clearCookies');
  const page = await browser.newPage();
  const hops = [];
  let error = '';
  try {
    for (const [stepIndex, step] of c.steps.entries()) {
      recorded = [];
      await runStep(page, step, caseIndex, stepIndex);
      hops.push(...recorded);
    }
  } catch (e) {
    error = String(e.message || e);
  }
  const { cookies } = await cdp.send('Storage.getCookies');
  await page.close();
  const chromium = { hops, jar: cookies.map(cookieLine).sort() };
  const mine = model.get(c.name) || { hops: [], jar: [] };
  const same = !error && JSON.stringify(chromium) === JSON.stringify({ hops: mine.hops, jar: mine.jar });
  if (same && c.deliberate) { // a stale mark would hide the next real difference
    failed++;
    console.log(`FAIL ${c.name}: marked deliberate ("${c.deliberate}") but the engines agree; remove the mark`);
    continue;
  }
  if (same) {
    passed++;
    console.log(`ok   ${c.name}`);
    continue;
  }
  const detail = `${error ? `    chromium error: ${error}\n` : ''}` +
    `    chromium: ${JSON.stringify(chromium)}\n    model:    ${JSON.stringify({ hops: mine.hops, jar: mine.jar })}`;
  if (c.deliberate) {
    deliberate++;
    passed++;
    console.log(`ok   ${c.name} (deliberate difference: ${c.deliberate})\n${detail}`);
  } else {
    failed++;
    console.log(`FAIL ${c.name}${c.issue_item ? ` (issue 14 item ${c.issue_item})` : ''}\n${detail}`);
  }
}
await browser.close();
httpServer.close();
httpsServer.close();
rmSync(work, { recursive: true, force: true });
const total = passed + failed;
console.log(`\n${version}: ${total - failed - deliberate} of ${total} cases agree, ` +
  `${deliberate} deliberate differences, ${failed} disagreements (${((Date.now() - started) / 1000).toFixed(1)} s)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// A client for fakeidp's admin API (/_fakeidp/, docs/admin-api.md), for
// JavaScript test runners: start a `fakeidp serve` on a free port, drive its
// clock, settings, faults and users, read its journal, and start the app
// under test with `fakeidp exec` so that its clock follows the fake's.
// ESM, no dependencies, Node 18 or later. Types: index.d.ts. Full guide:
// README.md.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

const DEFAULT_BINARY = 'fakeidp';

/** An admin API answer other than 2xx, or a fake that cannot be reached. */
export class FakeIdpError extends Error {
  constructor(message, { status = 0, code = null, body = null } = {}) {
    super(message);
    this.name = 'FakeIdpError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

function binaryFrom(options) {
  return options.binary || process.env.FAKEIDP_BIN || DEFAULT_BINARY;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One request on its own connection, closed after the answer: a kept-alive
// idle connection would hold one of the fake's worker threads and delay its
// shutdown.
function send(url, method, headers, body, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : http;
    const req = lib.request(target, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** A free TCP port on 127.0.0.1 (free when asked; bind it soon). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Waits until url answers below 500 (a redirect and a 404 count). */
export async function waitForUrl(url, { timeoutMs = 30000, intervalMs = 50, signal } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    try {
      const res = await send(url, 'GET', {}, undefined, 2000);
      if (res.status < 500) return res.status;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.code || e.message;
    }
    if (Date.now() >= deadline) throw new FakeIdpError(`${url} did not answer within ${timeoutMs} ms (${last})`);
    await sleep(intervalMs);
  }
}

function childExited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
  });
}

async function stopChild(child, exited, signal, timeoutMs) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal);
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const first = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (first === 'late') child.kill('SIGKILL');
  }
  return exited;
}

/** A command started by FakeIdp.exec() under `fakeidp exec`. */
export class ExecProcess {
  constructor(child) {
    this.process = child;
    this.pid = child.pid;
    this.exited = childExited(child);
  }

  get running() {
    return this.process.pid !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Waits until url answers below 500, failing at once if the command exits. */
  async waitForUrl(url, options = {}) {
    const gone = new AbortController();
    const exit = this.exited.then(({ code, signal, error }) => {
      const how = error ? `could not start: ${error.code || error.message}` : `exited (${signal || `status ${code}`})`;
      const e = new FakeIdpError(`fakeidp exec ${how} before ${url} answered`);
      gone.abort(e);
      throw e;
    });
    const up = waitForUrl(url, { ...options, signal: gone.signal });
    up.catch(() => {});
    exit.catch(() => {});
    try {
      return await Promise.race([up, exit]);
    } finally {
      gone.abort(new Error('done'));
    }
  }

  /** SIGTERM (forwarded to the command), SIGKILL after timeoutMs. */
  stop({ signal = 'SIGTERM', timeoutMs = 5000 } = {}) {
    return stopChild(this.process, this.exited, signal, timeoutMs);
  }
}

export class FakeIdp {
  /**
   * A client for the fake at url. Options: adminToken, binary (for env() and
   * exec(); default $FAKEIDP_BIN, else `fakeidp` on the PATH), config (the
   * fake's configuration file, for env() and exec()), followTimeoutMs.
   */
  constructor({ url, adminToken = null, binary, config = null, followTimeoutMs = 5000 } = {}) {
    if (!url) throw new TypeError('FakeIdp needs { url }, or use FakeIdp.start()');
    this.url = String(url).replace(/\/+$/, '');
    this.adminToken = adminToken;
    this.binary = binaryFrom({ binary });
    this.config = config;
    this.followTimeoutMs = followTimeoutMs;
    this.process = null;
    this.followers = new Set();
  }

  /**
   * Starts `fakeidp serve` on 127.0.0.1 and a free port, resolves once it
   * printed `listening on URL`. Options: binary, port (0), host, config,
   * settings ({name: value} as --set), adminToken, args (more serve
   * options), env, startTimeoutMs.
   */
  static async start(options = {}) {
    const binary = binaryFrom(options);
    const { host = '127.0.0.1', port = 0, config = null, settings = {}, adminToken = null, args = [] } = options;
    const argv = ['serve', '--host', host, '--port', String(port)];
    if (config) argv.push('--config', config);
    for (const [name, value] of Object.entries(settings)) argv.push('--set', `${name}=${value}`);
    if (adminToken) argv.push('--admin-token', adminToken);
    argv.push(...args);
    const child = spawn(binary, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(options.env || {}) },
    });
    const exited = childExited(child);
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      if (stderr.length < 8192) stderr += d;
    });
    child.stdout.setEncoding('utf8');
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new FakeIdpError(`${binary} serve did not print "listening on" within ${options.startTimeoutMs ?? 10000} ms`));
      }, options.startTimeoutMs ?? 10000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new FakeIdpError(`cannot start ${binary} (${e.code || e.message}); set FAKEIDP_BIN or { binary }`));
      });
      child.stdout.on('data', (d) => {
        stdout += d;
        const line = stdout.match(/^listening on (\S+)\r?\n/);
        if (line) {
          clearTimeout(timer);
          resolve(line[1]);
        }
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new FakeIdpError(`${binary} serve exited (${signal || `status ${code}`}): ${stderr.trim() || stdout.trim()}`));
      });
    });
    child.stdout.resume(); // keep draining
    const idp = new FakeIdp({ url, adminToken, binary, config, followTimeoutMs: options.followTimeoutMs });
    idp.process = child;
    idp.exited = exited;
    return idp;
  }

  /** Stops the commands started by exec(), then the fake if start() made it. */
  async stop({ timeoutMs = 5000 } = {}) {
    await Promise.all([...this.followers].map((f) => f.stop({ timeoutMs })));
    this.followers.clear();
    if (this.process) await stopChild(this.process, this.exited, 'SIGTERM', timeoutMs);
  }

  // ---- HTTP -------------------------------------------------------------

  async request(method, path, body, { requestId } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.adminToken) headers.Authorization = `Bearer ${this.adminToken}`;
    if (requestId) headers['X-Request-ID'] = requestId;
    let res;
    try {
      res = await send(this.url + path, method, headers, body === undefined ? undefined : JSON.stringify(body));
    } catch (e) {
      throw new FakeIdpError(`cannot reach the fake at ${this.url}: ${e.code || e.message}`);
    }
    const text = res.text;
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status < 200 || res.status > 299) {
      const message = json?.message || text || `status ${res.status}`;
      throw new FakeIdpError(`${method} ${path}: ${res.status} ${message}`, { status: res.status, code: json?.code ?? null, body: json });
    }
    return json;
  }

  // ---- admin API ----------------------------------------------------------

  health() {
    return this.request('GET', '/_fakeidp/health');
  }

  /** The clock: { now_ms, now, frozen }. */
  clock() {
    return this.request('GET', '/_fakeidp/clock');
  }

  /** Moves the clock by a duration ("6m", "1h30m", seconds as a number; may be negative). */
  advance(duration) {
    return this.setClock({ advance: duration });
  }

  /**
   * POST /_fakeidp/clock with { freeze, set, advance } (set: epoch ms or a
   * Date). Resolves with the new clock once every command started by exec()
   * follows it.
   */
  async setClock({ freeze, set, advance } = {}) {
    const body = {};
    if (freeze !== undefined) body.freeze = freeze;
    if (set !== undefined) body.set = set instanceof Date ? set.getTime() : set;
    if (advance !== undefined) body.advance = advance;
    const live = [...this.followers].filter((f) => f.running);
    if (live.length === 0) return this.request('POST', '/_fakeidp/clock', body);
    const since = (await this.request('GET', '/_fakeidp/journal?since=9007199254740991')).next;
    const requestId = `fakeidp-js-${randomBytes(8).toString('hex')}`;
    const clock = await this.request('POST', '/_fakeidp/clock', body, { requestId });
    await this.#waitForFollowers(live, since, requestId);
    return clock;
  }

  // `fakeidp exec` acknowledges each clock change it applied with a journaled
  // GET /_fakeidp/health whose request id is fakeidp-exec-PID-SEQ: every
  // entry before SEQ is in effect for its command (cli/exec.c).
  async #waitForFollowers(followers, since, requestId) {
    const deadline = Date.now() + this.followTimeoutMs;
    const waiting = new Set(followers);
    let mine = null;
    for (;;) {
      const { entries } = await this.request('GET', `/_fakeidp/journal?since=${since}`);
      for (const e of entries) {
        if (e.request_id === requestId) mine = e.seq;
        const ack = /^fakeidp-exec-(\d+)-(\d+)$/.exec(e.request_id || '');
        if (!ack || mine === null || Number(ack[2]) <= mine) continue;
        for (const f of waiting) if (f.pid === Number(ack[1])) waiting.delete(f);
      }
      for (const f of waiting) if (!f.running) waiting.delete(f);
      if (waiting.size === 0) return;
      if (Date.now() >= deadline) {
        const pids = [...waiting].map((f) => f.pid).join(', ');
        throw new FakeIdpError(`fakeidp exec (pid ${pids}) did not follow the clock within ${this.followTimeoutMs} ms`);
      }
      await sleep(10);
    }
  }

  /** Every setting; with an object, changes those named first (all or nothing). */
  settings(changes) {
    return changes === undefined ? this.request('GET', '/_fakeidp/settings') : this.request('PATCH', '/_fakeidp/settings', changes);
  }

  /** Adds one fault rule or an array of them; resolves with their ids. */
  async fault(rules) {
    const body = Array.isArray(rules) ? { faults: rules } : rules;
    return (await this.request('POST', '/_fakeidp/faults', body)).added;
  }

  /** The fault rules with their counters. */
  async faults() {
    return (await this.request('GET', '/_fakeidp/faults')).faults;
  }

  /** Removes one fault rule by id, or all of them. */
  async clearFaults(id) {
    const path = id === undefined ? '/_fakeidp/faults' : `/_fakeidp/faults/${encodeURIComponent(id)}`;
    return (await this.request('DELETE', path)).faults;
  }

  /** Makes email the user /authorize signs in when there is no login_hint. */
  signInAs(email) {
    return this.request('POST', '/_fakeidp/sign-in-as', { email });
  }

  async users() {
    return (await this.request('GET', '/_fakeidp/users')).data;
  }

  async addUser(user) {
    return (await this.request('POST', '/_fakeidp/users', user)).data;
  }

  /** Sessions, newest first; { userId } filters. */
  async sessions({ userId } = {}) {
    const query = userId ? `?user_id=${encodeURIComponent(userId)}` : '';
    return (await this.request('GET', `/_fakeidp/sessions${query}`)).data;
  }

  revokeSession(id) {
    return this.request('POST', `/_fakeidp/sessions/${encodeURIComponent(id)}/revoke`, {});
  }

  async keys() {
    return (await this.request('GET', '/_fakeidp/keys')).keys;
  }

  /** Key rotation: { publishLead, retireAfter } durations. */
  async rotateKeys({ publishLead, retireAfter } = {}) {
    const body = {};
    if (publishLead !== undefined) body.publish_lead = publishLead;
    if (retireAfter !== undefined) body.retire_after = retireAfter;
    return (await this.request('POST', '/_fakeidp/keys/rotate', body)).keys;
  }

  /**
   * The journal: { entries, next, dropped }. Options: since (a seq), route
   * (keep only entries of this route), admin (false leaves out route admin).
   */
  async journal({ since, route, admin = true } = {}) {
    const query = since === undefined ? '' : `?since=${since}`;
    const journal = await this.request('GET', `/_fakeidp/journal${query}`);
    journal.entries = journal.entries.filter((e) => (!route || e.route === route) && (admin || e.route !== 'admin'));
    return journal;
  }

  clearJournal() {
    return this.request('DELETE', '/_fakeidp/journal');
  }

  /**
   * GET /_fakeidp/outbox: what the fake would have sent (e-mails, magic
   * codes…). Needs a fakeidp that has the route; an older one answers 404
   * (FakeIdpError with status 404).
   */
  outbox() {
    return this.request('GET', '/_fakeidp/outbox');
  }

  /** Back to the configuration: settings, users, faults, journal (not the clock, not the keys). */
  reset() {
    return this.request('POST', '/_fakeidp/reset', {});
  }

  // ---- the app's side -------------------------------------------------------

  #binaryArgs(extra) {
    const args = ['--url', this.url];
    if (this.config) args.push('--config', this.config);
    return args.concat(extra);
  }

  /**
   * The variables that point a WorkOS SDK at this fake (`fakeidp env`):
   * WORKOS_API_HOSTNAME, WORKOS_API_PORT, WORKOS_API_HTTPS, WORKOS_CLIENT_ID,
   * WORKOS_API_KEY, WORKOS_REDIRECT_URI, NEXT_PUBLIC_WORKOS_REDIRECT_URI,
   * WORKOS_COOKIE_PASSWORD (fresh random). Option: redirectUri.
   */
  env({ redirectUri } = {}) {
    const args = ['env', ...this.#binaryArgs(['--format', 'dotenv'])];
    if (redirectUri) args.push('--redirect-uri', redirectUri);
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.once('error', (e) => reject(new FakeIdpError(`cannot run ${this.binary} env (${e.code || e.message})`)));
      child.once('close', (code) => {
        if (code !== 0) return reject(new FakeIdpError(`${this.binary} env failed (status ${code}): ${err.trim()}`));
        const vars = {};
        for (const line of out.split('\n')) {
          const i = line.indexOf('=');
          if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
        }
        resolve(vars);
      });
    });
  }

  /**
   * Starts command (with args) under `fakeidp exec`: the fake's WORKOS_*
   * variables and its virtual clock. Options: cwd, env (added to
   * process.env; WORKOS_REDIRECT_URI and WORKOS_COOKIE_PASSWORD given here
   * are kept), clock ('frozen' | 'ticking' | 'off'), stdio (default
   * 'inherit'). From then on setClock() and advance() resolve only once the
   * command follows the new time. stop() stops it.
   */
  exec(command, args = [], { cwd, env = {}, clock, stdio = 'inherit' } = {}) {
    const extra = clock ? ['--clock', clock] : [];
    const argv = ['exec', ...this.#binaryArgs(extra)];
    argv.push('--', command, ...args);
    const token = this.adminToken ? { FAKEIDP_ADMIN_TOKEN: this.adminToken } : {};
    const child = spawn(this.binary, argv, { cwd, env: { ...process.env, ...token, ...env }, stdio });
    const follower = new ExecProcess(child);
    this.followers.add(follower);
    follower.exited.then(() => this.followers.delete(follower));
    child.once('error', () => {}); // reported through exited (spawn failure)
    return follower;
  }
}

export default FakeIdp;

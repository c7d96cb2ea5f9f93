// A minimal app on @workos/authkit-session 0.7.1, the framework-agnostic
// library behind the TanStack Start and SvelteKit AuthKit integrations, on
// node:http. A headers-only storage adapter (getCookie only), as its README
// describes:
//
//   /login     createSignIn -> PKCE verifier cookie + redirect to AuthKit
//   /callback  handleCallback -> wos-session cookie
//   /dashboard withAuth(); refreshedSessionData -> saveSession (Set-Cookie)
//   /api/*     the same, answering 401 JSON instead of redirecting
//   /logout    signOut -> logout URL, cookie deleted
//
// Every decision is printed on one line; fakeidp copies the output into the
// scenario timeline.
//
// WORKERS=N (default 1) runs N processes with node:cluster, the way apps are
// deployed behind one port (PM2 cluster mode, several replicas): the
// library de-duplicates concurrent refreshes only inside one process.
import cluster from 'node:cluster';
import http from 'node:http';
import { CookieSessionStorage, createAuthService } from '@workos/authkit-session';

const env = process.env;
const port = Number(env.PORT || 3000);
const workers = Math.max(1, Number(env.WORKERS || 1));
const redirectUri = env.WORKOS_REDIRECT_URI || `http://localhost:${port}/callback`;
const home = new URL('/', redirectUri).toString();
const who = cluster.isWorker ? `worker ${cluster.worker.id}` : 'app';

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let online = 0;
  cluster.on('listening', () => {
    if (++online !== workers) return;
    // /healthz answers 503 until every worker listens, so that the harness
    // does not start before connections can reach both.
    for (const w of Object.values(cluster.workers)) w.send({ allListening: true });
    console.log(`authkit-session listening on port ${port} with ${workers} workers`);
  });
  cluster.on('exit', (w, code, signal) => console.log(`worker ${w.id} exited (${signal || code})`));
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
      process.exit(0);
    });
  }
} else {
  serve();
}

function parseCookies(header) {
  const out = {};
  for (const part of (header || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

// The storage adapter: reads cookies from a node:http request; writes come
// back as a headers bag the handlers apply.
class NodeHttpStorage extends CookieSessionStorage {
  async getCookie(request, name) {
    return parseCookies(request.headers.cookie)[name] ?? null;
  }
}

function setCookies(bag) {
  if (!bag) return [];
  const key = Object.keys(bag).find((k) => k.toLowerCase() === 'set-cookie');
  const value = key ? bag[key] : [];
  return Array.isArray(value) ? value : [value];
}

function send(res, status, body, cookies = []) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Set-Cookie': cookies });
  res.end(JSON.stringify(body));
}

function redirect(res, location, cookies = []) {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', 'Set-Cookie': cookies });
  res.end();
}

function serve() {
  let ready = !cluster.isWorker;
  process.on('message', (m) => {
    if (m && m.allListening) ready = true;
  });
  const authService = createAuthService({
    sessionStorageFactory: (config) => new NodeHttpStorage(config),
  });
  const log = (req, text) => console.log(`${who}: ${req.method} ${req.url.split("?")[0]}: ${text}`);

  async function handle(req, res) {
    const url = new URL(req.url, home);
    const path = url.pathname;
    if (path === '/healthz') return send(res, ready ? 200 : 503, { ok: ready });
    if (path === '/') return send(res, 200, { app: 'authkit-session', signed_in: null });
    if (path === '/login') {
      const { url: location, headers } = await authService.createSignIn(undefined, { returnPathname: '/dashboard' });
      return redirect(res, location, setCookies(headers));
    }
    if (path === '/callback') {
      const code = url.searchParams.get('code');
      const state = url.searchParams.get('state') ?? undefined;
      try {
        const result = await authService.handleCallback(req, undefined, { code, state });
        log(req, `signed in ${result.authResponse.user.email}`);
        return redirect(res, result.returnPathname || '/dashboard', setCookies(result.headers));
      } catch (e) {
        log(req, `callback failed: ${e.name}: ${e.message}`);
        const clear = state ? await authService.clearPendingVerifier(undefined, { state }) : {};
        return send(res, 400, { signed_in: false, error: e.message }, setCookies(clear.headers));
      }
    }
    if (path === '/logout') {
      const { auth } = await authService.withAuth(req);
      if (!auth.user) {
        const { headers } = await authService.clearSession(undefined);
        return redirect(res, '/', setCookies(headers));
      }
      const { logoutUrl, headers } = await authService.signOut(auth.sessionId, { returnTo: home });
      return redirect(res, logoutUrl, setCookies(headers));
    }
    const api = path.startsWith('/api/');
    if (path === '/dashboard' || api) {
      const hadCookie = Boolean(await authService.getSession(req).catch(() => 'unreadable'));
      const { auth, refreshedSessionData } = await authService.withAuth(req);
      if (!auth.user) {
        // The library leaves the cookie as it is; the app signs the user out
        // of this request only.
        log(req, `signed out: ${hadCookie ? 'session invalid or refresh failed' : 'no session cookie'}`);
        if (api) return send(res, 401, { signed_in: false });
        return redirect(res, '/login');
      }
      const cookies = [];
      if (refreshedSessionData) {
        const { headers } = await authService.saveSession(undefined, refreshedSessionData);
        cookies.push(...setCookies(headers));
        log(req, 'refreshed: new session cookie');
      }
      return send(res, 200, { signed_in: true, user: auth.user.email, session_id: auth.sessionId, path }, cookies);
    }
    return send(res, 404, { error: 'not found' });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error(`${who}: ${req.method} ${req.url}: unhandled ${e.stack || e}`);
      if (!res.headersSent) send(res, 500, { error: String(e) });
    });
  });
  server.listen(port, () => {
    if (!cluster.isWorker)
      console.log(`authkit-session listening on port ${port}, fake WorkOS API at ${env.WORKOS_API_HOSTNAME}:${env.WORKOS_API_PORT}, clock ${new Date().toISOString()}`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      server.close();
      process.exit(0);
    });
  }
}

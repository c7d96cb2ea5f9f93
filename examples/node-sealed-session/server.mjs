// A minimal app on @workos-inc/node sealed sessions, the way the WorkOS
// "vanilla Node.js" AuthKit guide does it, on node:http without a framework:
//
//   /login     getAuthorizationUrl (confidential client, state cookie)
//   /callback  authenticateWithCode with session sealing -> wos-session cookie
//   /dashboard loadSealedSession -> authenticate(); on invalid_jwt refresh()
//   /api/*     the same, answering 401 JSON instead of redirecting
//   /logout    getLogoutUrl, cookie deleted
//
// Every decision is printed on one line: fakeidp copies the app's output
// into the scenario timeline, so scenarios can assert on it.
//
// Environment: the WORKOS_* variables of `fakeidp env` (the harness sets them
// when it starts the app), PORT, and CLEAR_COOKIE_ON_REFRESH_FAILURE (default
// 1: a refresh that fails deletes the cookie, as most apps built on this
// pattern and authkit-nextjs 3 do; 0: the cookie is kept).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { WorkOS } from '@workos-inc/node';

const env = process.env;
const port = Number(env.PORT || 3000);
const redirectUri = env.WORKOS_REDIRECT_URI || `http://localhost:${port}/callback`;
const home = new URL('/', redirectUri).toString();
const cookiePassword = env.WORKOS_COOKIE_PASSWORD;
const clientId = env.WORKOS_CLIENT_ID;
const clearOnFailure = env.CLEAR_COOKIE_ON_REFRESH_FAILURE !== '0';
const secure = redirectUri.startsWith('https:');

if (!cookiePassword || cookiePassword.length < 32) {
  console.error('WORKOS_COOKIE_PASSWORD must be at least 32 characters');
  process.exit(1);
}

const workos = new WorkOS(env.WORKOS_API_KEY, {
  clientId,
  apiHostname: env.WORKOS_API_HOSTNAME,
  port: env.WORKOS_API_PORT ? Number(env.WORKOS_API_PORT) : undefined,
  https: env.WORKOS_API_HTTPS !== 'false',
});

function log(req, text) {
  console.log(`${req.method} ${req.url.split("?")[0]}: ${text}`);
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function cookie(name, value, maxAge) {
  return `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

const sessionCookie = (seal) => cookie('wos-session', seal, 34560000);
const deleteSessionCookie = () => cookie('wos-session', '', 0);

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function redirect(res, location, setCookies = []) {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', 'Set-Cookie': setCookies });
  res.end();
}

// The middleware of the guide: authenticate, refresh an expired access
// token, sign out otherwise. Returns the user or null (response sent).
async function withAuth(req, res, api) {
  const setCookies = [];
  const signedOut = (why) => {
    log(req, `signed out: ${why}`);
    if (api) send(res, 401, { signed_in: false, reason: why }, { 'Set-Cookie': setCookies });
    else redirect(res, '/login', setCookies);
    return null;
  };
  const sessionData = cookies(req)['wos-session'];
  const session = workos.userManagement.loadSealedSession({ sessionData, cookiePassword });
  let auth;
  try {
    auth = await session.authenticate();
  } catch (e) {
    auth = { authenticated: false, reason: 'invalid_session_cookie' };
  }
  if (auth.authenticated) return { auth, setCookies };
  if (auth.reason !== 'invalid_jwt') return signedOut(auth.reason);
  log(req, 'access token expired or invalid: refreshing');
  try {
    const refreshed = await session.refresh();
    if (refreshed.authenticated) {
      log(req, 'refreshed: new session cookie');
      setCookies.push(sessionCookie(refreshed.sealedSession));
      return { auth: refreshed, setCookies };
    }
    if (clearOnFailure) {
      log(req, `refresh failed (${refreshed.reason}): deleting the session cookie`);
      setCookies.push(deleteSessionCookie());
    } else {
      log(req, `refresh failed (${refreshed.reason}): keeping the session cookie`);
    }
    return signedOut(refreshed.reason);
  } catch (e) {
    log(req, `refresh threw ${e.name}: ${e.message}: deleting the session cookie`);
    setCookies.push(deleteSessionCookie());
    return signedOut('refresh_error');
  }
}

async function handle(req, res) {
  const url = new URL(req.url, home);
  const path = url.pathname;
  if (path === '/healthz') return send(res, 200, { ok: true });
  if (path === '/') return send(res, 200, { app: 'node-sealed-session', signed_in: null });
  if (path === '/login') {
    const state = randomBytes(16).toString('hex');
    const authorizationUrl = workos.userManagement.getAuthorizationUrl({
      provider: 'authkit',
      redirectUri,
      clientId,
      state,
    });
    return redirect(res, authorizationUrl, [cookie('wos-state', state, 600)]);
  }
  if (path === '/callback') {
    const code = url.searchParams.get('code');
    const state = url.searchParams.get('state');
    if (!code || !state || state !== cookies(req)['wos-state']) {
      log(req, 'callback without a code or with a wrong state');
      return send(res, 400, { signed_in: false, error: 'bad callback' });
    }
    try {
      const { user, sealedSession } = await workos.userManagement.authenticateWithCode({
        code,
        clientId,
        session: { sealSession: true, cookiePassword },
      });
      log(req, `signed in ${user.email}`);
      return redirect(res, '/dashboard', [sessionCookie(sealedSession), cookie('wos-state', '', 0)]);
    } catch (e) {
      log(req, `code exchange failed: ${e.name}: ${e.message}`);
      return send(res, 500, { signed_in: false, error: e.message });
    }
  }
  if (path === '/logout') {
    const sessionData = cookies(req)['wos-session'];
    let location = '/';
    try {
      const session = workos.userManagement.loadSealedSession({ sessionData, cookiePassword });
      location = await session.getLogoutUrl({ returnTo: home });
    } catch (e) {
      log(req, `no session to log out of: ${e.message}`);
    }
    return redirect(res, location, [deleteSessionCookie()]);
  }
  const api = path.startsWith('/api/');
  if (path === '/dashboard' || api) {
    const ok = await withAuth(req, res, api);
    if (!ok) return;
    const { auth, setCookies } = ok;
    return send(
      res,
      200,
      { signed_in: true, user: auth.user?.email ?? null, session_id: auth.sessionId ?? null, path },
      { 'Set-Cookie': setCookies },
    );
  }
  return send(res, 404, { error: 'not found' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    console.error(`${req.method} ${req.url}: unhandled ${e.stack || e}`);
    if (!res.headersSent) send(res, 500, { error: String(e) });
  });
});
server.listen(port, () => {
  console.log(`node-sealed-session listening on port ${port}, fake WorkOS API at ${env.WORKOS_API_HOSTNAME}:${env.WORKOS_API_PORT}, clock ${new Date().toISOString()}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}

// A minimal app on the loader-based AuthKit SDKs (@workos-inc/authkit-remix,
// @workos-inc/authkit-react-router): a plain Node http server that hands each
// request, as a web Request, to the SDK's own loaders and sends what they
// return or throw. No framework build is needed; the session code that runs
// is the SDK's (cookie session storage, JWKS verification, refresh, sign-out).
//
//   cd authkit-remix && node server.mjs         (PORT and WORKOS_* from the harness)
//
// The SDK is the @workos-inc/authkit-* dependency in the package.json of the
// current folder, imported from that folder's node_modules.
//
//   /healthz          readiness
//   /login            getSignInUrl() → 302
//   /callback         authLoader({ returnPathname: '/dashboard' })
//   /dashboard        authkitLoader(..., { ensureSignedIn: true }) → {"signed_in":true,...}
//   /api/<name>       authkitLoader(...) → the same, or 401 {"signed_in":false}
//   /with-auth        withAuth(args): reads the session cookie without refreshing
//   /logout           signOut(request, { returnTo: APP_URL + '/' })

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const here = pathToFileURL(`${process.cwd()}/`);
const pkg = JSON.parse(readFileSync(new URL('package.json', here), 'utf8'));
const sdkName = Object.keys(pkg.dependencies).find((d) => d.startsWith('@workos-inc/authkit-'));
const sdk = await import(import.meta.resolve(sdkName, here));
const authkit = sdk.default ?? sdk;
const sdkVersion = JSON.parse(readFileSync(new URL(`node_modules/${sdkName}/package.json`, here), 'utf8')).version;
console.log(`${sdkName} ${sdkVersion} on node ${process.version}`);

const json = (body, status = 200, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

// What a loader returned: a Response, or react-router/remix `data()` (an
// object with `data` and `init`), or plain data.
function toResponse(value) {
  if (value instanceof Response) return value;
  if (value && typeof value === 'object' && value.type === 'DataWithResponseInit') {
    const headers = new Headers(value.init?.headers);
    headers.set('Content-Type', 'application/json');
    return new Response(JSON.stringify(value.data), { status: value.init?.status ?? 200, headers });
  }
  return json(value);
}

const loaderArgs = (request) => ({ request, params: {}, context: {} });
const authData = ({ auth }) => auth.user
  ? { signed_in: true, user: auth.user.email, session_id: auth.sessionId }
  : { signed_in: false };

async function route(request) {
  const { pathname } = new URL(request.url);
  if (pathname === '/healthz') return json({ ok: true });
  if (pathname === '/login') return Response.redirect(await authkit.getSignInUrl('/dashboard'), 302);
  if (pathname === '/callback') return authkit.authLoader({ returnPathname: '/dashboard' })(loaderArgs(request));
  if (pathname === '/dashboard') {
    return authkit.authkitLoader(loaderArgs(request), authData, { ensureSignedIn: true, debug: true });
  }
  if (pathname.startsWith('/api/')) {
    const out = toResponse(await authkit.authkitLoader(loaderArgs(request), authData, { debug: true }));
    if (out.status !== 200) return out;
    const body = await out.clone().json();
    return body.signed_in ? out : new Response(JSON.stringify(body), { status: 401, headers: out.headers });
  }
  if (pathname === '/with-auth') {
    const { user, sessionId } = await authkit.withAuth(loaderArgs(request));
    return user ? json({ signed_in: true, user: user.email, session_id: sessionId }) : json({ signed_in: false }, 401);
  }
  if (pathname === '/logout') {
    return authkit.signOut(request, { returnTo: process.env.APP_URL ? `${process.env.APP_URL}/` : undefined });
  }
  if (pathname === '/') return json({ home: true });
  return json({ error: 'not found' }, 404);
}

createServer(async (req, res) => {
  const url = `http://${req.headers.host ?? 'localhost'}${req.url}`;
  const request = new Request(url, { method: req.method, headers: req.headers });
  let response;
  try {
    response = toResponse(await route(request));
  } catch (thrown) {
    // Loaders throw redirects (ensureSignedIn, a failed refresh).
    if (thrown instanceof Response) response = thrown;
    else {
      console.error('loader error:', thrown);
      response = json({ error: String(thrown?.message ?? thrown) }, 500);
    }
  }
  const headers = {};
  for (const [k, v] of response.headers) if (k !== 'set-cookie') headers[k] = v;
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  res.writeHead(response.status, headers);
  res.end(Buffer.from(await response.arrayBuffer()));
}).listen(Number(process.env.PORT ?? 3000), '127.0.0.1');

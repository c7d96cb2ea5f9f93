// authkit-nextjs 3.0.1 session handling: the middleware verifies the access
// token on every matched request and refreshes it when it fails (no
// pre-expiry buffer, no de-duplication); a failed refresh deletes the cookie.
// debug: true prints each decision; fakeidp copies it into the timeline.
import { authkitMiddleware } from '@workos-inc/authkit-nextjs';

export default authkitMiddleware({ debug: true });

export const config = { matcher: ['/dashboard', '/api/:path*', '/logout'] };

// authkit-nextjs 4.3.2 session handling: the middleware verifies the access
// token on every matched request and refreshes it when it fails or expires
// within the buffer (30 s for 5-minute tokens), with no de-duplication across
// requests; a failed refresh deletes the cookie.
// debug: true prints each decision; fakeidp copies it into the timeline.
import { authkitMiddleware } from '@workos-inc/authkit-nextjs';

export default authkitMiddleware({ debug: true });

export const config = { matcher: ['/dashboard', '/api/:path*', '/logout'] };

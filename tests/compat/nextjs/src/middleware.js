// authkitMiddleware on every route that reads the session: it verifies the
// access token and refreshes it when it has expired (session code of the
// pinned authkit-nextjs). debug: true prints each decision; fakeidp copies it
// into the timeline.
import { authkitMiddleware } from '@workos-inc/authkit-nextjs';

export default authkitMiddleware({ debug: true });

export const config = { matcher: ['/dashboard', '/api/:path*', '/logout', '/refresh', '/recent'] };

import { handleAuth } from '@workos-inc/authkit-nextjs';

// Exchanges the code (with the PKCE verifier) and sets wos-session.
export const GET = handleAuth({ returnPathname: '/dashboard' });

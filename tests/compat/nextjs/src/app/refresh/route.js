import { refreshSession } from '@workos-inc/authkit-nextjs';

export const dynamic = 'force-dynamic';

// refreshSession(): an explicit refresh from app code (not the middleware);
// it exchanges the refresh token and saves the new session cookie.
export async function GET() {
  const { user, sessionId, accessToken } = await refreshSession();
  if (!user) return Response.json({ signed_in: false }, { status: 401 });
  return Response.json({ signed_in: true, user: user.email, session_id: sessionId, has_token: !!accessToken });
}

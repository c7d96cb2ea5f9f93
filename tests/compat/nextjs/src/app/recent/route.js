import * as authkit from '@workos-inc/authkit-nextjs';

export const dynamic = 'force-dynamic';

// checkRecentAuth({ maxAge }) (4.x): stale when the access token's auth_time
// (the interactive sign-in, unchanged by refreshes) is older than maxAge
// seconds, or missing. 404 on versions without it.
export async function GET(request) {
  if (typeof authkit.checkRecentAuth !== 'function') {
    return Response.json({ error: 'checkRecentAuth is not in this version' }, { status: 404 });
  }
  const maxAge = Number(new URL(request.url).searchParams.get('max_age') ?? '300');
  const { user } = await authkit.withAuth();
  if (!user) return Response.json({ signed_in: false }, { status: 401 });
  const { isStale, authenticatedAt } = await authkit.checkRecentAuth({ maxAge });
  return Response.json({
    signed_in: true,
    recent: isStale ? 'stale' : 'fresh',
    authenticated_at: authenticatedAt ? authenticatedAt.toISOString() : null,
  });
}

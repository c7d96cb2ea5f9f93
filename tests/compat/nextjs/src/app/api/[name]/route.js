import { withAuth } from '@workos-inc/authkit-nextjs';

export const dynamic = 'force-dynamic';

// An API route a page would fetch(): 401 instead of a redirect.
export async function GET(request, { params }) {
  const { name } = await params;
  const { user, sessionId } = await withAuth();
  if (!user) return Response.json({ signed_in: false }, { status: 401 });
  return Response.json({ signed_in: true, user: user.email, session_id: sessionId, path: `/api/${name}` });
}

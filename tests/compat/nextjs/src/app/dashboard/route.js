import { withAuth } from '@workos-inc/authkit-nextjs';
import { redirect } from 'next/navigation';

export const dynamic = 'force-dynamic';

// The protected page, as JSON so that fakeidp can read "signed_in":true.
export async function GET() {
  const { user, sessionId } = await withAuth();
  if (!user) redirect('/login');
  return Response.json({ signed_in: true, user: user.email, session_id: sessionId, path: '/dashboard' });
}

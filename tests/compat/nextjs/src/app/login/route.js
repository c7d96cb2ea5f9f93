import { getSignInUrl } from '@workos-inc/authkit-nextjs';
import { redirect } from 'next/navigation';

export const dynamic = 'force-dynamic';

// Sets the PKCE verifier cookie and sends the browser to AuthKit.
export async function GET() {
  redirect(await getSignInUrl({ returnTo: '/dashboard' }));
}

import * as authkit from '@workos-inc/authkit-nextjs';
import { redirect } from 'next/navigation';

export const dynamic = 'force-dynamic';

// Re-authentication as checkRecentAuth's documentation advises (4.x):
// getSignInUrl({ maxAge }) forwards OIDC max_age, so the IdP makes the user
// sign in again when the last interactive sign-in is older.
export async function GET(request) {
  const maxAge = Number(new URL(request.url).searchParams.get('max_age') ?? '300');
  redirect(await authkit.getSignInUrl({ maxAge, returnTo: '/recent' }));
}

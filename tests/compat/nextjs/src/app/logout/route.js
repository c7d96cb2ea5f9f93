import { signOut } from '@workos-inc/authkit-nextjs';

export const dynamic = 'force-dynamic';

// Deletes wos-session and redirects to the IdP's logout URL.
export async function GET() {
  await signOut({ returnTo: process.env.APP_URL ? `${process.env.APP_URL}/` : undefined });
}

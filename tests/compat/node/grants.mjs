// Sign-in grants other than the code, through @workos-inc/node's own methods
// (password, magic auth, email verification, organisation selection, TOTP
// MFA, and the user/organisation calls they need). Imported by probe.mjs,
// which runs these checks with SDKs that have the methods (12.x).
// Codes are read from the fake's outbox (GET /_fakeidp/outbox) when the SDK
// call itself does not return them.

import { createHmac, randomBytes } from 'node:crypto';

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) at `ms` for a base32 secret.
export function totp(secret, ms) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`totp: bad base32 character ${ch}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 1000 / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

// The newest code the outbox holds for `email` (any of the shapes a
// mail-catcher list may take: an array or {data|messages|entries: [...]}).
export async function outboxCode(admin, email) {
  const box = await admin('/_fakeidp/outbox');
  const list = Array.isArray(box) ? box : box.data ?? box.messages ?? box.entries ?? box.outbox ?? [];
  const mine = list.filter((m) => [m.to, m.email, m.recipient].some((x) =>
    (Array.isArray(x) ? x : [x]).some((y) => String(y ?? '').toLowerCase() === email.toLowerCase())));
  for (let i = mine.length - 1; i >= 0; i--) {
    const code = mine[i].code ?? mine[i].data?.code ?? /\b(\d{6})\b/.exec(mine[i].text ?? mine[i].body ?? '')?.[1];
    if (code) return String(code);
  }
  throw new Error(`outbox: no code for ${email} in ${JSON.stringify(box).slice(0, 300)}`);
}

// Checks that fail because the fake lacks the server side: name → the exact
// deviation. They print XFAIL and do not fail the run; once one passes it
// prints XPASS and fails, so the entry goes. Empty: every grant check holds.
export const XFAIL = {};

export async function grantChecks(ctx) {
  const { workos, CLIENT_ID, check, assert, assertEq, rejects, describeError, admin, virtualNowMs, jose } = ctx;
  const uniq = () => randomBytes(4).toString('hex');
  const password = 'correct horse battery staple 7!';
  const expectAuthError = (e, code, what) => {
    const got = e?.code ?? e?.rawData?.code ?? e?.error;
    assert(got === code, `${what}: expected ${code}, got ${describeError(e)}`);
    return e;
  };
  const sid = (r) => jose.decodeJwt(r.accessToken).sid;

  // Each grant's response must make a session whose refresh works as for the code.
  const refreshes = async (r, what) => {
    const r2 = await workos.userManagement.authenticateWithRefreshToken({ clientId: CLIENT_ID, refreshToken: r.refreshToken });
    assertEq(sid(r2), sid(r), `${what}: sid after refresh`);
  };

  let pwUser;
  await check('createUser({password, emailVerified}) → authenticateWithPassword → session that refreshes', async () => {
    const email = `pw-${uniq()}@example.com`;
    pwUser = await workos.userManagement.createUser({ email, password, firstName: 'Pat', emailVerified: true });
    assertEq(pwUser.email, email, 'user.email');
    const r = await workos.userManagement.authenticateWithPassword({ clientId: CLIENT_ID, email, password });
    assertEq(r.user.id, pwUser.id, 'user.id');
    await refreshes(r, 'password');
    return `user ${pwUser.id}`;
  }, { xfail: XFAIL.password });

  await check('authenticateWithPassword with a wrong password → invalid_credentials', async () => {
    assert(pwUser, 'needs the password user');
    const e = await rejects(workos.userManagement.authenticateWithPassword({
      clientId: CLIENT_ID, email: pwUser.email, password: 'wrong password',
    }), 'wrong password');
    expectAuthError(e, 'invalid_credentials', 'wrong password');
  }, { xfail: XFAIL.wrongPassword });

  await check('createMagicAuth → code (response or outbox) → authenticateWithMagicAuth; code single use', async () => {
    const email = `magic-${uniq()}@example.com`;
    await workos.userManagement.createUser({ email, emailVerified: true });
    const m = await workos.userManagement.createMagicAuth({ email });
    assertEq(m.email, email, 'magicAuth.email');
    const code = m.code ?? await outboxCode(admin, email);
    const r = await workos.userManagement.authenticateWithMagicAuth({ clientId: CLIENT_ID, code, email });
    assertEq(r.user.email, email, 'user.email');
    await refreshes(r, 'magic auth');
    const e = await rejects(workos.userManagement.authenticateWithMagicAuth({ clientId: CLIENT_ID, code, email }), 'code reuse');
    assert(e.status === 400, `code reuse: expected 400, got ${describeError(e)}`);
  }, { xfail: XFAIL.magicAuth });

  await check('unverified email: password → email_verification_required → getEmailVerification / outbox code → authenticateWithEmailVerification', async () => {
    const email = `unverified-${uniq()}@example.com`;
    const u = await workos.userManagement.createUser({ email, password, emailVerified: false });
    const e = await rejects(workos.userManagement.authenticateWithPassword({ clientId: CLIENT_ID, email, password }), 'unverified');
    expectAuthError(e, 'email_verification_required', 'unverified');
    assertEq(e.status, 403, 'status');
    const pending = e.pendingAuthenticationToken ?? e.rawData?.pending_authentication_token;
    assert(pending, 'no pending_authentication_token');
    const evId = e.rawData?.email_verification_id;
    assert(evId, 'no email_verification_id');
    const ev = await workos.userManagement.getEmailVerification(evId);
    assertEq(ev.userId, u.id, 'emailVerification.userId');
    const code = ev.code ?? await outboxCode(admin, email);
    const r = await workos.userManagement.authenticateWithEmailVerification({ clientId: CLIENT_ID, code, pendingAuthenticationToken: pending });
    assertEq(r.user.id, u.id, 'user.id');
    assertEq(r.user.emailVerified, true, 'user.emailVerified');
    await refreshes(r, 'email verification');
  }, { xfail: XFAIL.emailVerification });

  await check('sendVerificationEmail({userId}) → {user}; the code is in the outbox', async () => {
    const email = `verify-${uniq()}@example.com`;
    const u = await workos.userManagement.createUser({ email, emailVerified: false });
    const out = await workos.userManagement.sendVerificationEmail({ userId: u.id });
    assertEq(out.user.id, u.id, 'user.id');
    const code = await outboxCode(admin, email);
    assert(/^\d{6}$/.test(code), `code ${code}`);
  }, { xfail: XFAIL.sendVerificationEmail });

  await check('createOrganization ×2 + createOrganizationMembership ×2 → organization_selection_required → authenticateWithOrganizationSelection', async () => {
    const email = `orgs-${uniq()}@example.com`;
    const u = await workos.userManagement.createUser({ email, password, emailVerified: true });
    const o1 = await workos.organizations.createOrganization({ name: `Org A ${uniq()}` });
    const o2 = await workos.organizations.createOrganization({ name: `Org B ${uniq()}` });
    for (const o of [o1, o2]) {
      const m = await workos.userManagement.createOrganizationMembership({ userId: u.id, organizationId: o.id });
      assertEq(m.organizationId, o.id, 'membership.organizationId');
    }
    const e = await rejects(workos.userManagement.authenticateWithPassword({ clientId: CLIENT_ID, email, password }), 'two orgs');
    expectAuthError(e, 'organization_selection_required', 'two orgs');
    assertEq(e.status, 403, 'status');
    const pending = e.pendingAuthenticationToken ?? e.rawData?.pending_authentication_token;
    const orgs = (e.rawData?.organizations ?? []).map((o) => o.id).sort();
    assertEq(orgs.join(','), [o1.id, o2.id].sort().join(','), 'organizations offered');
    const r = await workos.userManagement.authenticateWithOrganizationSelection({
      clientId: CLIENT_ID, pendingAuthenticationToken: pending, organizationId: o2.id,
    });
    assertEq(jose.decodeJwt(r.accessToken).org_id, o2.id, 'org_id');
    // Refresh into the other organisation switches the token's org_id.
    const r2 = await workos.userManagement.authenticateWithRefreshToken({
      clientId: CLIENT_ID, refreshToken: r.refreshToken, organizationId: o1.id,
    });
    assertEq(jose.decodeJwt(r2.accessToken).org_id, o1.id, 'org_id after refresh with organizationId');
    const e2 = await rejects(workos.userManagement.authenticateWithOrganizationSelection({
      clientId: CLIENT_ID, pendingAuthenticationToken: pending, organizationId: o1.id,
    }), 'spent pending token');
    expectAuthError(e2, 'invalid_pending_authentication_token', 'spent pending token');
  }, { xfail: XFAIL.organizationSelection });

  await check('unknown pending token → invalid_pending_authentication_token', async () => {
    const e = await rejects(workos.userManagement.authenticateWithOrganizationSelection({
      clientId: CLIENT_ID, pendingAuthenticationToken: 'not-a-pending-token', organizationId: 'org_01NONE',
    }), 'unknown pending token');
    expectAuthError(e, 'invalid_pending_authentication_token', 'unknown pending token');
  }, { xfail: XFAIL.unknownPending });

  await check('createUserAuthFactor(totp) → mfa_challenge on password sign-in → authenticateWithTotp (RFC 6238 on the virtual clock)', async () => {
    const email = `mfa-${uniq()}@example.com`;
    const u = await workos.userManagement.createUser({ email, password, emailVerified: true });
    // 12.x: multiFactorAuth.createUserAuthFactor; 11.x and older: userManagement.enrollAuthFactor.
    const mfa = workos.multiFactorAuth ?? workos.mfa;
    const enroll = mfa.createUserAuthFactor
      ? (o) => mfa.createUserAuthFactor(o)
      : (o) => workos.userManagement.enrollAuthFactor(o);
    const { authenticationFactor: f } = await enroll({ userId: u.id, type: 'totp', totpIssuer: 'fakeidp', totpUser: email });
    assert(f?.totp?.secret, `no TOTP secret in ${JSON.stringify(f)?.slice(0, 200)}`);
    const e = await rejects(workos.userManagement.authenticateWithPassword({ clientId: CLIENT_ID, email, password }), 'mfa');
    expectAuthError(e, 'mfa_challenge', 'password sign-in with a factor');
    const pending = e.pendingAuthenticationToken ?? e.rawData?.pending_authentication_token;
    const factorId = e.rawData?.authentication_factors?.[0]?.id ?? f.id;
    const challenge = await mfa.challengeFactor({ authenticationFactorId: factorId });
    const wrong = await rejects(workos.userManagement.authenticateWithTotp({
      clientId: CLIENT_ID, code: '000000' === totp(f.totp.secret, await virtualNowMs()) ? '111111' : '000000',
      authenticationChallengeId: challenge.id, pendingAuthenticationToken: pending,
    }), 'wrong TOTP');
    assert(wrong.status === 400 || wrong.status === 403, `wrong TOTP: ${describeError(wrong)}`);
    const r = await workos.userManagement.authenticateWithTotp({
      clientId: CLIENT_ID, code: totp(f.totp.secret, await virtualNowMs()),
      authenticationChallengeId: challenge.id, pendingAuthenticationToken: pending,
    });
    assertEq(r.user.id, u.id, 'user.id');
    await refreshes(r, 'totp');
  }, { xfail: XFAIL.totp });
}

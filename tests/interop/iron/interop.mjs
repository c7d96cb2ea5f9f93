// Interop between the C iron seal (iron_tool) and the npm implementations
// that the WorkOS SDKs use: iron-webcrypto (the format) and iron-session
// (sealData/unsealData, which add and strip the "~2" suffix).
//
//   node interop.mjs /path/to/iron_tool
//
// Prints one line per check and "N passed, N failed" last; exits 1 on any
// failure.
import { spawnSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import * as Iron from 'iron-webcrypto';
import { sealData, unsealData } from 'iron-session';

const tool = process.argv[2];
if (!tool) {
  console.error('usage: node interop.mjs /path/to/iron_tool');
  process.exit(2);
}

const PASSWORD = 'fakeidp-interop-password-0123456789-abcdef';
const WRONG_PASSWORD = 'fakeidp-interop-password-0123456789-abcdeg';
// 32 characters but 64 UTF-8 bytes: long enough on both sides.
const MULTIBYTE_PASSWORD = '\u00e9'.repeat(32);

const payloads = [
  { user: { id: 'user_01H', email: 'a@example.com' }, accessToken: 'x.y.z' },
  { unicode: 'caf\u00e9 \u2713 \u{1F600}', empty: '', nested: [1, [2, [3]], null, true] },
  { big: 'A'.repeat(3000), n: 1.5e300 },
  {},
];

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function cSeal(password, text) {
  const r = spawnSync(tool, ['seal', password], { input: Buffer.from(text, 'utf8') });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`iron_tool seal exited ${r.status}: ${r.stderr}`);
  return r.stdout.toString('utf8').trim();
}
function cUnseal(password, sealed) {
  const r = spawnSync(tool, ['unseal', password, sealed]);
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8').trim() };
}
function assertCUnseals(password, sealed, obj) {
  const r = cUnseal(password, sealed);
  assert(r.status === 0, `iron_tool unseal exited ${r.status}: ${r.stderr}`);
  const want = Buffer.from(JSON.stringify(obj), 'utf8');
  assert(r.stdout.equals(want), `payload mismatch: ${r.stdout} != ${want}`);
}
function assertCRejects(password, sealed, message) {
  const r = cUnseal(password, sealed);
  assert(r.status === 1, `iron_tool unseal exited ${r.status}, wanted 1`);
  assert(r.stderr === message, `stderr ${JSON.stringify(r.stderr)}, wanted ${JSON.stringify(message)}`);
}
async function assertRejects(promise, message) {
  try {
    await promise;
  } catch (e) {
    assert(e.message === message, `threw ${JSON.stringify(e.message)}, wanted ${JSON.stringify(message)}`);
    return;
  }
  throw new Error(`did not throw ${message}`);
}
const webSeal = (obj, password, ttl = 0) =>
  Iron.seal(globalThis.crypto, obj, password, { ...Iron.defaults, ttl });
const webUnseal = (sealed, password) =>
  Iron.unseal(globalThis.crypto, sealed.split('~')[0], password, Iron.defaults);

// (a) npm seals, C unseals.
for (const [i, obj] of payloads.entries()) {
  await check(`iron-webcrypto seal -> C unseal (payload ${i})`, async () => {
    assertCUnseals(PASSWORD, await webSeal(obj, PASSWORD), obj);
  });
  await check(`iron-session sealData ttl 0 -> C unseal (payload ${i})`, async () => {
    assertCUnseals(PASSWORD, await sealData(obj, { password: PASSWORD, ttl: 0 }), obj);
  });
}
await check('iron-session sealData default ttl (14 days) -> C unseal', async () => {
  const sealed = await sealData(payloads[0], { password: PASSWORD });
  assert(/\*\d{13}\*/.test(sealed), 'expected an expiration field');
  assertCUnseals(PASSWORD, sealed, payloads[0]);
});
await check('iron-session sealData with password id 7 -> C unseal', async () => {
  const sealed = await sealData(payloads[0], { password: { 7: PASSWORD }, ttl: 0 });
  assert(sealed.startsWith('Fe26.2*7*'), 'expected password id 7');
  assertCUnseals(PASSWORD, sealed, payloads[0]);
});
await check('multibyte password: iron-webcrypto seal -> C unseal', async () => {
  assertCUnseals(MULTIBYTE_PASSWORD, await webSeal(payloads[1], MULTIBYTE_PASSWORD), payloads[1]);
});
await check('iron-webcrypto seal with ttl 1 ms, 61 s in the past -> C "Expired seal"', async () => {
  const opts = { ...Iron.defaults, ttl: 1, localtimeOffsetMsec: -61000 };
  const sealed = await Iron.seal(globalThis.crypto, payloads[0], PASSWORD, opts);
  assertCRejects(PASSWORD, sealed, 'Expired seal');
});

// (b) C seals, npm unseals.
for (const [i, obj] of payloads.entries()) {
  const text = JSON.stringify(obj);
  await check(`C seal -> iron-webcrypto unseal (payload ${i})`, async () => {
    const got = await webUnseal(cSeal(PASSWORD, text), PASSWORD);
    assert(isDeepStrictEqual(got, obj), `got ${JSON.stringify(got)}`);
  });
  await check(`C seal -> iron-session unsealData (payload ${i})`, async () => {
    const got = await unsealData(cSeal(PASSWORD, text), { password: PASSWORD });
    assert(isDeepStrictEqual(got, obj), `got ${JSON.stringify(got)}`);
  });
}
await check('C seal -> iron-session unsealData with a password map {1: pw}', async () => {
  const got = await unsealData(cSeal(PASSWORD, JSON.stringify(payloads[0])), {
    password: { 1: PASSWORD },
  });
  assert(isDeepStrictEqual(got, payloads[0]), `got ${JSON.stringify(got)}`);
});
await check('multibyte password: C seal -> iron-webcrypto unseal', async () => {
  const got = await webUnseal(cSeal(MULTIBYTE_PASSWORD, JSON.stringify(payloads[1])), MULTIBYTE_PASSWORD);
  assert(isDeepStrictEqual(got, payloads[1]), `got ${JSON.stringify(got)}`);
});
await check('C seal has iron-session layout', async () => {
  const sealed = cSeal(PASSWORD, '{}');
  assert(/^Fe26\.2\*1\*[0-9a-f]{64}\*[\w-]{22}\*[\w-]+\*\*[0-9a-f]{64}\*[\w-]{43}~2$/.test(sealed), sealed);
});
await check('C seal round-trips through C', async () => {
  assertCUnseals(PASSWORD, cSeal(PASSWORD, JSON.stringify(payloads[1])), payloads[1]);
});

// (c) The wrong password fails on both sides.
await check('wrong password: iron-webcrypto seal -> C "Bad hmac value"', async () => {
  assertCRejects(WRONG_PASSWORD, await webSeal(payloads[0], PASSWORD), 'Bad hmac value');
});
await check('wrong password: iron-session seal -> C "Bad hmac value"', async () => {
  const sealed = await sealData(payloads[0], { password: PASSWORD, ttl: 0 });
  assertCRejects(WRONG_PASSWORD, sealed, 'Bad hmac value');
});
await check('wrong password: C seal -> iron-webcrypto "Bad hmac value"', async () => {
  await assertRejects(webUnseal(cSeal(PASSWORD, '{"a":1}'), WRONG_PASSWORD), 'Bad hmac value');
});
await check('wrong password: C seal -> iron-session unsealData returns {}', async () => {
  // iron-session swallows "Bad hmac value" and yields an empty session.
  const got = await unsealData(cSeal(PASSWORD, '{"a":1}'), { password: WRONG_PASSWORD });
  assert(isDeepStrictEqual(got, {}), `got ${JSON.stringify(got)}`);
});
await check('tampered ciphertext: C seal -> iron-webcrypto "Bad hmac value"', async () => {
  const parts = cSeal(PASSWORD, '{"a":1}').split('*');
  parts[4] = (parts[4][0] === 'A' ? 'B' : 'A') + parts[4].slice(1);
  await assertRejects(webUnseal(parts.join('*'), PASSWORD), 'Bad hmac value');
});
await check('tampered ciphertext: iron-webcrypto seal -> C "Bad hmac value"', async () => {
  const parts = (await webSeal(payloads[0], PASSWORD)).split('*');
  parts[4] = (parts[4][0] === 'A' ? 'B' : 'A') + parts[4].slice(1);
  assertCRejects(PASSWORD, parts.join('*'), 'Bad hmac value');
});
await check('short password: both sides refuse with the same message', async () => {
  const msg = 'Password string too short (min 32 characters required)';
  const short = 'x'.repeat(31);
  await assertRejects(webSeal(payloads[0], short), msg);
  const r = spawnSync(tool, ['seal', short], { input: '{}' });
  assert(r.status === 1 && r.stderr.toString().trim() === msg, `C seal: ${r.status} ${r.stderr}`);
  assertCRejects(short, await webSeal(payloads[0], PASSWORD), msg);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

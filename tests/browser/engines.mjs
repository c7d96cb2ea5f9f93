// Runs scenarios in both browser engines and compares their verdicts:
// `fakeidp run` with the browser model and with --browser chromium (real
// headless Chromium), variant by variant. A variant whose verdict differs
// fails unless the scenario explains it ("engine_difference": "why", on the
// variant or the whole scenario); an explanation on a variant whose
// verdicts agree fails too (a stale note would hide the next difference).
//
// usage: node engines.mjs /path/to/fakeidp scenario.json...
// Exit 0 all agree or differ as explained, 1 otherwise, 77 Chromium or node
// missing outside CI (under CI=true that fails instead).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [fakeidp, ...files] = process.argv.slice(2);
if (!fakeidp || !files.length) {
  console.error('usage: node engines.mjs /path/to/fakeidp scenario.json...');
  process.exit(2);
}
const work = mkdtempSync(path.join(os.tmpdir(), 'fakeidp-engines-'));

// Chromium's variants mostly wait (for the browser to start, for the SDK's
// once-a-second timer): four at a time keep two cores busy without
// overloading them (FAKEIDP_ENGINES_JOBS overrides).
const chromiumJobs = process.env.FAKEIDP_ENGINES_JOBS || '4';

function run(engine) {
  const report = path.join(work, `${engine}.json`);
  const started = Date.now();
  const jobs = engine === 'chromium' ? chromiumJobs : '2';
  const r = spawnSync(fakeidp, ['run', '--seed', '1', '-j', jobs, '--browser', engine, '--json', report, ...files],
    { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0 && r.status !== 1 && r.status !== 3) {
    console.error(`fakeidp run --browser ${engine} exited with ${r.status}:\n${r.stderr}`);
    process.exit(1);
  }
  const results = JSON.parse(readFileSync(report, 'utf8')).results;
  return { seconds: (Date.now() - started) / 1000, results, status: r.status };
}

const model = run('model');
const chromium = run('chromium');
const cannotStart = chromium.results.length && chromium.results.every((r) =>
  (r.failures || []).some((f) => /Chromium engine could not start/.test(f)));
if (cannotStart) {
  const why = chromium.results[0].failures.find((f) => /could not start/.test(f));
  rmSync(work, { recursive: true, force: true });
  if (process.env.CI === 'true') {
    console.error(`browser_engines: ${why} (CI=true: failing instead of skipping)`);
    process.exit(1);
  }
  console.error(`browser_engines: ${why}: SKIPPED`);
  process.exit(77);
}

const docs = new Map(files.map((f) => [f, JSON.parse(readFileSync(f, 'utf8'))]));
function explanation(file, variant) {
  const doc = docs.get(file) || {};
  const own = doc.variants && doc.variants[variant] && doc.variants[variant].engine_difference;
  return own || doc.engine_difference || null;
}

const key = (r) => `${r.scenario}/${r.variant}`;
const inChromium = new Map(chromium.results.map((r) => [key(r), r]));
let agree = 0;
let explained = 0;
let failed = 0;
for (const m of model.results) {
  const c = inChromium.get(key(m));
  const why = explanation(m.file, m.variant);
  const verdict = (r) => (r ? (r.passed ? 'pass' : 'fail') : 'missing');
  const same = c && m.passed === c.passed;
  if (same && !why) {
    agree++;
    console.log(`ok   ${key(m)}: ${verdict(m)} in both`);
  } else if (same) {
    failed++;
    console.log(`FAIL ${key(m)}: engine_difference says "${why}", but both engines ${verdict(m)}; remove the note`);
  } else if (why) {
    explained++;
    console.log(`ok   ${key(m)}: model ${verdict(m)}, chromium ${verdict(c)} (explained: ${why})`);
  } else {
    failed++;
    console.log(`FAIL ${key(m)}: model ${verdict(m)}, chromium ${verdict(c)}, not explained by engine_difference`);
    for (const f of (m.failures || [])) console.log(`    model:    ${f}`);
    for (const f of ((c && c.failures) || [])) console.log(`    chromium: ${f}`);
    // The failing engine's timeline: what a flake left to go on.
    const lost = c && !c.passed ? c : m;
    console.log(`    ${lost === c ? 'chromium' : 'model'} timeline:`);
    for (const t of (lost.timeline || []).slice(-25)) {
      console.log(`      +${(t.t / 1000).toFixed(1)}s ${(t.component || t.source).padEnd(10)} ${t.text}`);
    }
  }
}
rmSync(work, { recursive: true, force: true });
let version = '';
try { version = execFileSync(process.env.CHROMIUM || '/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { version = 'Chromium'; }
console.log(`\n${version}: ${model.results.length} variants, ${agree} same verdict, ${explained} explained ` +
  `differences, ${failed} unexplained (model ${model.seconds.toFixed(1)} s, chromium ${chromium.seconds.toFixed(1)} s)`);
console.log(`${agree + explained} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

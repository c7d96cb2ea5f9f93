// A stand-in app for the harness's own lifecycle tests: no SDK, no npm
// packages. Knobs (environment):
//   EXIT_AT_START=N  exit with status N before listening
//   NEVER_LISTEN=1   run without ever answering
//   IGNORE_SIGTERM=1 survive SIGTERM (the harness must SIGKILL the group)
//   SPAWN_CHILD=1    start a grandchild process that lives forever
//   UNHEALTHY=1      answer 503 everywhere (listening, never ready)
// /clock answers the app's Date.now(), to check the faketime plumbing.
// With FAKEIDP_EXAMPLE_WORK set (examples/run-example.sh), every pid is
// recorded under $FAKEIDP_EXAMPLE_WORK/pids so after.sh can check that
// none outlived the run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';

const env = process.env;
function record(pid) {
  if (!env.FAKEIDP_EXAMPLE_WORK) return;
  fs.mkdirSync(`${env.FAKEIDP_EXAMPLE_WORK}/pids`, { recursive: true });
  fs.writeFileSync(`${env.FAKEIDP_EXAMPLE_WORK}/pids/${pid}`, '');
}

record(process.pid);
console.log(`lifecycle app pid ${process.pid}, clock ${new Date().toISOString()}`);
if (env.EXIT_AT_START) {
  console.error('exiting at start as asked');
  process.exit(Number(env.EXIT_AT_START));
}
if (env.IGNORE_SIGTERM) process.on('SIGTERM', () => console.log('SIGTERM ignored'));
if (env.SPAWN_CHILD) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  record(child.pid);
  console.log(`spawned child ${child.pid}`);
}
if (env.NEVER_LISTEN) {
  setInterval(() => {}, 1000);
} else {
  http
    .createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      if (env.UNHEALTHY) {
        res.statusCode = 503;
        return res.end(JSON.stringify({ ok: false }));
      }
      if (req.url === '/clock') {
        const now = Date.now();
        console.log(`clock ${new Date(now).toISOString()}`);
        return res.end(JSON.stringify({ signed_in: true, now, iso: new Date(now).toISOString() }));
      }
      res.end(JSON.stringify({ ok: true }));
    })
    .listen(Number(env.PORT || 3000));
}

// Time from start to the first healthy answer, measured from outside the process:
// spawn the server, poll its health URL as fast as a connection can be refused, note
// the first 200, stop it with SIGTERM and wait for it to exit. Repeated RUNS times;
// prints each time and the median in milliseconds as `START median_ms=… runs=…`.
//
//   RUNS=5 node start-time.mjs HEALTH_URL COMMAND [ARGS…]
//
// The environment (data dir, database URL, port…) is passed to the command as is, so
// the database already exists when this runs: it measures a restart, not a first start.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';

const [healthUrl, command, ...args] = process.argv.slice(2);
const runs = Number(process.env.RUNS ?? 5);

// One GET without keep-alive; resolves to the status, or 0 when nothing answers yet.
function probe() {
  return new Promise((resolve) => {
    const req = http.get(healthUrl, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
  });
}

async function oneStart() {
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  let exited = false;
  child.on('exit', () => { exited = true; });
  let status = 0;
  while (status !== 200) {
    if (exited) throw new Error(`${command} exited before it answered healthy`);
    status = await probe();
    // A refused connection returns at once; a short pause keeps the poller from
    // taking the CPU the server needs to start.
    if (status !== 200) await new Promise((r) => setTimeout(r, 1));
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  child.kill('SIGTERM');
  if (!exited) await once(child, 'exit');
  return ms;
}

const times = [];
for (let i = 0; i < runs; i += 1) times.push(await oneStart());
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
console.log(`START median_ms=${median.toFixed(1)} runs=${times.map((t) => t.toFixed(1)).join(',')}`);

import { spawn, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BENCH_PROJECT, benchSecret } from '../broker-server.ts';
import { percentile } from '../stats.ts';
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', '--import', 'tsx', fileURLToPath(new URL('../broker-server.ts', import.meta.url)), 'ours'], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise<number>((r) => createInterface({ input: child.stdout! }).once('line', (l) => r(JSON.parse(l).port)));
const load = fork(fileURLToPath(new URL('../broker-load.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
const auth = (d: string) => ({ clientId: `${BENCH_PROJECT}/${d}`, username: `${BENCH_PROJECT}/${d}`, password: benchSecret(d) });
for (let i = 0; i < 3; i++) {
  const us = await new Promise<number[]>((res) => { load.once('message', (m: any) => res(m.us)); load.send({ op: 'latency', url: `mqtt://127.0.0.1:${port}`, pub: auth('lat-pub'), sub: auth('lat-sub'), topic: `load/p${i}`, qos: 1, samples: 10000, warmup: 300, size: 100 }); });
  console.log(percentile(us, 50).toFixed(0), percentile(us, 99).toFixed(0));
}
load.kill(); child.stdin!.end();
await new Promise((r) => child.once('exit', r));

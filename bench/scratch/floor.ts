// scratch: mini relay vs ours vs Mosquitto, latency slices interleaved, 4 rounds
import { spawn, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BENCH_PROJECT, benchSecret } from '../broker-server.ts';
import { percentile } from '../stats.ts';
const start = (file: string, arg?: string) => {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url)), ...(arg ? [arg] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise<{ port: number; child: typeof child }>((r) => createInterface({ input: child.stdout! }).once('line', (l) => r({ port: JSON.parse(l).port, child })));
};
const mini = await start('./mini-broker.ts');
const ours = await start('../broker-server.ts', 'ours');
const load = fork(fileURLToPath(new URL('../broker-load.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
const anon = (d: string) => ({ clientId: `floor-${d}` });
const auth = (d: string) => ({ clientId: `${BENCH_PROJECT}/${d}`, username: `${BENCH_PROJECT}/${d}`, password: benchSecret(d) });
const peers = [
  { name: 'mini', url: `mqtt://127.0.0.1:${mini.port}`, creds: anon },
  { name: 'ours', url: `mqtt://127.0.0.1:${ours.port}`, creds: auth },
  { name: 'mosquitto', url: 'mqtt://127.0.0.1:1883', creds: anon },
];
const lat = (url: string, creds: (d: string) => object, qos: number, topic: string) => new Promise<number[]>((res) => { load.once('message', (m: any) => res(m.us)); load.send({ op: 'latency', url, pub: creds('lat-pub'), sub: creds('lat-sub'), topic, qos, samples: 1000, warmup: 300, size: 100 }); });
for (let r = 0; r < 4; r++) {
  const acc = new Map<string, number[]>();
  for (let s = 0; s < 4; s++) for (const p of peers) for (const q of [0, 1]) { const k = `${p.name} q${q}`; acc.set(k, [...(acc.get(k) ?? []), ...(await lat(p.url, p.creds, q, `load/floor${process.pid}/${r}${s}${q}`))]); }
  console.log(`round ${r}: ` + [...acc].map(([k, v]) => `${k} ${percentile(v, 50).toFixed(0)}/${percentile(v, 99).toFixed(0)}`).join('  '));
}
load.kill(); mini.child.stdin!.end(); ours.child.stdin!.end();

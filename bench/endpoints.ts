import http from 'node:http';
import type { Instance, Resource } from '../core/index.ts';
import { endpointAt, startPlatform, testService, waitFor } from '../testkit/index.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';

/**
 * GS-Link endpoints' data path against a direct connection to the same
 * instance (the limit). A real center and two agents; an HTTP instance on
 * edge-a-1 that answers GET /small with 2 bytes and GET /4mb with 4 MiB.
 * - Same node: a client at edge-a through edge-a's endpoint (the agent relays
 *   on loopback) against the instance's own port.
 * - Across nodes: a client at edge-b through edge-b's endpoint, which reaches
 *   edge-a's instance through edge-a's gateway (mutual TLS), reported beside.
 * Latency: sequential requests on one keep-alive connection. Throughput:
 * 8 keep-alive connections at once. The 4 MiB transfer is KubeEdge
 * EdgeMesh's reported case (edgemesh#551: 321 ms through its proxy against
 * 40 ms direct, 8x). Medians of five rounds; the throughput against direct
 * is the median of each round's ratio (the two measured back to back, so a
 * machine that slows down between rounds moves both).
 */
const ROUNDS = 5;
const SEQUENTIAL = 2000;
const CONNECTIONS = 8;
const THROUGHPUT_MS = 3000;
const BIG = 4 * 1024 * 1024;

const SERVER = `const big = Buffer.alloc(${BIG}, 7);
require('http').createServer((q, s) => q.url === '/4mb' ? s.end(big) : s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));`;

export async function run(): Promise<Metric[]> {
  const p = await startPlatform({ agents: [{ name: 'edge-a-1', site: 'edge-a' }, { name: 'edge-b-1', site: 'edge-b' }] });
  try {
    const svc = testService('echo', { http: true, script: SERVER }) as Resource & { spec: Record<string, unknown> };
    svc.spec.endpoint = {};
    svc.spec.placement = { policy: 'pinned', nodes: ['edge-a-1'] };
    await p.center.api.apply(JSON.stringify(svc));
    const inst = await waitFor(async () => (await p.center.api.list<Instance>('Instance')).items.find((i) => i.status?.ready), 60_000, 'the instance ready');
    const direct = { host: '127.0.0.1', port: inst.status!.ports.http! };
    const viaA = await endpointAt(p, 'edge-a-1', 'echo', { timeoutMs: 30_000 });
    const viaB = await endpointAt(p, 'edge-b-1', 'echo', { timeoutMs: 30_000 });
    const paths = { direct, local: viaA, remote: viaB };
    type Row = Record<'p50' | 'p99' | 'rps' | 'bigMs', number>;
    const rounds: Record<keyof typeof paths, Row>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const row = {} as Record<keyof typeof paths, Row>;
      for (const [name, at] of Object.entries(paths) as [keyof typeof paths, { host: string; port: number }][]) {
        const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
        try {
          for (let i = 0; i < 200; i++) await get(at, agent, '/small');
          const times: number[] = [];
          for (let i = 0; i < SEQUENTIAL; i++) {
            const t = performance.now();
            await get(at, agent, '/small');
            times.push(performance.now() - t);
          }
          const rps = await forMs(THROUGHPUT_MS, CONNECTIONS, () => get(at, agent, '/small'));
          const big: number[] = [];
          for (let i = 0; i < 10; i++) {
            const t = performance.now();
            const n = await get(at, agent, '/4mb');
            if (n !== BIG) throw new Error(`${name}: 4 MiB came back as ${n} bytes`);
            big.push(performance.now() - t);
          }
          row[name] = { p50: percentile(times, 50), p99: percentile(times, 99), rps, bigMs: median(big) };
        } finally {
          agent.destroy();
        }
      }
      rounds.push(row);
      console.log(`round ${r + 1}: ${Object.entries(row).map(([k, v]) => `${k} p50 ${v.p50.toFixed(3)} ms p99 ${v.p99.toFixed(3)} ms ${v.rps.toFixed(0)} req/s 4 MiB ${v.bigMs.toFixed(1)} ms`).join('; ')}`);
    }
    const m = (path: keyof typeof paths, k: keyof Row) => median(rounds.map((x) => x[path][k]));
    const peer = (value: number) => ({ name: 'direct connection to the instance', value });
    return [
      metric('request latency p50 through the endpoint, same node', 'ms', m('local', 'p50'), 'report', peer(m('direct', 'p50'))),
      metric('request latency p99 through the endpoint, same node', 'ms', m('local', 'p99'), 'report', peer(m('direct', 'p99'))),
      metric('added latency at p50, same node (endpoint - direct)', 'ms', m('local', 'p50') - m('direct', 'p50'), '<= 0.2 ms'),
      metric(`throughput through the endpoint, ${CONNECTIONS} keep-alive connections, same node`, 'req/s', m('local', 'rps'), 'report', peer(m('direct', 'rps'))),
      metric('throughput through the endpoint against direct, same node (median of the rounds\' ratios)', 'x', median(rounds.map((x) => x.local.rps / x.direct.rps)), '>= 0.8'),
      metric('4 MiB transfer through the endpoint, same node (EdgeMesh: 321 ms against 40 ms direct, 8x)', 'ms', m('local', 'bigMs'), 'report', peer(m('direct', 'bigMs'))),
      metric('request latency p50 across nodes (endpoint at edge-b, gateway at edge-a, mutual TLS)', 'ms', m('remote', 'p50'), 'report', peer(m('direct', 'p50'))),
      metric('request latency p99 across nodes', 'ms', m('remote', 'p99'), 'report', peer(m('direct', 'p99'))),
      metric(`throughput across nodes, ${CONNECTIONS} keep-alive connections`, 'req/s', m('remote', 'rps'), 'report', peer(m('direct', 'rps'))),
      metric('4 MiB transfer across nodes', 'ms', m('remote', 'bigMs'), 'report', peer(m('direct', 'bigMs'))),
    ];
  } finally {
    await p.close();
  }
}

/** One GET on the keep-alive agent; resolves to the body's length. */
function get(at: { host: string; port: number }, agent: http.Agent, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ ...at, path, agent }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** Requests per second over `ms`, with `concurrency` loops. */
async function forMs(ms: number, concurrency: number, step: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await step();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** Round trips of the machine itself, in ms (sorted: p50 and p99 as a test reads them). */
export interface WakeupLatency {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

// Two processes of their own, so that a round trip wakes two sleeping processes, as a reading on its way
// from a device to a rule and a command back to a light does; neither waits on the test's busy event loop.
const ECHO = `
const net = require('node:net');
net.createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(d))).listen(0, '127.0.0.1', function () {
  console.log(this.address().port);
});
process.stdin.on('end', () => process.exit(0)).resume();
`;
const PINGER = `
const net = require('node:net');
const [port, periodMs] = process.argv.slice(1).map(Number);
const rtts = [];
let sentAt;
const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
const send = () => { sentAt = process.hrtime.bigint(); s.write('x'); };
s.on('data', () => { rtts.push(Number(process.hrtime.bigint() - sentAt) / 1e6); setTimeout(send, periodMs); });
s.on('connect', send);
process.stdin.on('end', () => { console.log(JSON.stringify(rtts)); process.exit(0); }).resume();
`;

/**
 * How long this machine takes to wake a sleeping process: a loopback round
 * trip between two idle processes every `periodMs`, for as long as it runs.
 * On a healthy machine its p99 is well under a millisecond; a VM whose
 * vCPUs wait for the host shows several. A test that bounds a latency
 * across processes reads it to tell the platform's delay from the
 * machine's.
 */
export async function startWakeupProbe(periodMs = 100): Promise<{ stop(): Promise<WakeupLatency> }> {
  const echo = spawn(process.execPath, ['-e', ECHO], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [port] = (await once(createInterface({ input: echo.stdout! }), 'line')) as [string];
  const pinger = spawn(process.execPath, ['-e', PINGER, port, String(periodMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const out = readAll(pinger);
  out.catch(() => undefined); // read in stop()
  return {
    async stop() {
      pinger.stdin!.end();
      const text = await out;
      echo.stdin!.end();
      await once(echo, 'close');
      const v = (JSON.parse(text) as number[]).sort((a, b) => a - b);
      if (!v.length) throw new Error('the wakeup probe made no round trip');
      const ms = (x: number) => Math.round(x * 100) / 100;
      return { n: v.length, p50: ms(quantile(v, 0.5)), p99: ms(quantile(v, 0.99)), max: ms(v.at(-1)!) };
    },
  };
}

/** The nearest-rank quantile `p` (0-1) of ascending `sorted`. */
export function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function readAll(p: ChildProcess): Promise<string> {
  let text = '';
  p.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  const [code] = (await once(p, 'close')) as [number | null];
  if (code !== 0) throw new Error(`the wakeup probe exited with ${code}`);
  return text;
}

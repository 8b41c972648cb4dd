import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { waitFor } from '../core/wait-for.ts';
import { quantile } from '../sim/traffic/stats.ts';

/** Round trips between two idle processes, in ms. */
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
net.createServer({ noDelay: true }, (s) => s.on('data', (d) => s.write(d)).on('error', () => s.destroy())).listen(0, '127.0.0.1', function () {
  console.log(this.address().port);
});
process.stdin.on('end', () => process.exit(0)).resume();
`;
const PINGER = `
const net = require('node:net');
const [port, periodMs] = process.argv.slice(1).map(Number);
let sentAt;
const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
const send = () => { sentAt = process.hrtime.bigint(); s.write('x'); };
s.on('data', () => { console.log(Number(process.hrtime.bigint() - sentAt) / 1e6); setTimeout(send, periodMs); });
s.on('connect', send);
// The echo is gone (its test ended first): nothing to measure.
s.on('error', () => process.exit(1));
process.stdin.on('end', () => process.exit(0)).resume();
`;

/**
 * How long this machine takes to wake a sleeping process: a loopback round
 * trip between two idle processes every `periodMs`, for as long as it runs.
 * On a healthy machine its p99 is well under a millisecond; a VM whose
 * vCPUs wait for the host shows several. A test that bounds a latency
 * across processes reads it to tell the platform's delay from the
 * machine's.
 */
export async function startWakeupProbe(periodMs = 100): Promise<{ stop(minSamples?: number): Promise<WakeupLatency> }> {
  const echo = spawn(process.execPath, ['-e', ECHO], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [port] = (await once(createInterface({ input: echo.stdout! }), 'line')) as [string];
  const pinger = spawn(process.execPath, ['-e', PINGER, port, String(periodMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rtts: number[] = [];
  createInterface({ input: pinger.stdout! }).on('line', (l) => rtts.push(Number(l)));
  const closed = Promise.all([once(pinger, 'close'), once(echo, 'close')]);
  // A probe its test never stopped (the test failed first) must not keep the test's process alive; both end
  // when their stdin does, so with it at the latest.
  for (const c of [echo, pinger]) {
    c.unref();
    for (const s of [c.stdin, c.stdout]) (s as unknown as { unref(): void }).unref();
  }
  return {
    /** Once it has made at least `minSamples` round trips (a probe stopped early waits for them). */
    async stop(minSamples = 5) {
      await waitFor(() => rtts.length >= minSamples || pinger.exitCode !== null || undefined, 10 * minSamples * periodMs + 10_000, 'the wakeup probe to make its round trips');
      pinger.stdin!.end();
      echo.stdin!.end();
      // This timer keeps the test's process alive meanwhile (the children do not).
      const guard = setTimeout(() => [echo, pinger].forEach((c) => c.kill('SIGKILL')), 5000);
      const [[code]] = (await closed) as [[number | null], unknown];
      clearTimeout(guard);
      if (code !== 0 || rtts.length < minSamples) throw new Error(`the wakeup probe exited with ${code} after ${rtts.length} round trips`);
      const v = [...rtts].sort((a, b) => a - b);
      const ms = (x: number) => Math.round(x * 100) / 100;
      return { n: v.length, p50: ms(quantile(v, 0.5)), p99: ms(quantile(v, 0.99)), max: ms(v.at(-1)!) };
    },
  };
}

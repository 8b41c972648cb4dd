import { cpus, freemem, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { NodeUsage, Resources } from '../core/index.ts';

const MiB = 1024 * 1024;
const NET_DEV = '/proc/net/dev';

export async function detectCapacity(dataDir: string): Promise<Resources> {
  const fs = await statfs(dataDir).catch(() => undefined);
  return {
    cpu: cpus().length,
    memoryMiB: Math.round(totalmem() / MiB),
    diskMiB: fs ? Math.round((fs.blocks * fs.bsize) / MiB) : 0,
    accelerators: {},
  };
}

/**
 * CPU in cores used since the previous sample (all processes), memory and
 * disk in use, and network bytes per second since the previous sample (the
 * first sample: since construction).
 */
export class UsageSampler {
  private prev = sampleCpu();
  private prevNet: NetSample | undefined;

  constructor(private readonly dataDir: string) {
    // Read synchronously once so the first rates start exactly at construction.
    let text: string | undefined;
    try {
      text = readFileSync(NET_DEV, 'utf8');
    } catch {
      text = undefined;
    }
    this.prevNet = text === undefined ? undefined : { at: performance.now(), bytes: parseNetDev(text) };
  }

  async sample(): Promise<NodeUsage> {
    const cur = sampleCpu();
    const busy = cur.busy - this.prev.busy;
    const total = cur.total - this.prev.total;
    this.prev = cur;
    const [fs, net] = await Promise.all([statfs(this.dataDir).catch(() => undefined), this.sampleNet()]);
    return {
      cpu: total > 0 ? Math.round((busy / total) * cpus().length * 100) / 100 : 0,
      memoryMiB: Math.round((totalmem() - freemem()) / MiB),
      diskMiB: fs ? Math.round(((fs.blocks - fs.bfree) * fs.bsize) / MiB) : 0,
      ...net,
    };
  }

  /** Absent where /proc/net/dev cannot be read (not Linux). */
  private async sampleNet(): Promise<{ netRxBps: number; netTxBps: number } | undefined> {
    const text = await readFile(NET_DEV, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const cur: NetSample = { at: performance.now(), bytes: parseNetDev(text) };
    const prev = this.prevNet;
    this.prevNet = cur;
    if (!prev) return undefined;
    const seconds = (cur.at - prev.at) / 1000;
    if (seconds <= 0) return { netRxBps: 0, netTxBps: 0 };
    const { rx, tx } = netDelta(prev.bytes, cur.bytes);
    return { netRxBps: Math.round(rx / seconds), netTxBps: Math.round(tx / seconds) };
  }
}

interface NetSample {
  at: number;
  bytes: Map<string, { rx: number; tx: number }>;
}

/**
 * Received and transmitted byte counters per interface, loopback included:
 * on an edge box devices, the broker and workloads on the same host talk
 * over loopback, and that traffic is load the node carries too.
 */
export function parseNetDev(text: string): Map<string, { rx: number; tx: number }> {
  const out = new Map<string, { rx: number; tx: number }>();
  // Two header lines, then `  name: rxBytes rxPackets ... (8 receive fields) txBytes ...`.
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) continue;
    out.set(line.slice(0, colon).trim(), { rx, tx });
  }
  return out;
}

/**
 * Bytes moved between two readings, per interface and summed: interfaces
 * come and go (a container's veth), so a vanished one must not pull the sum
 * down; one that appeared carried all its bytes within the interval; a
 * counter that went back (reset) counts nothing.
 */
function netDelta(prev: NetSample['bytes'], cur: NetSample['bytes']): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const [name, c] of cur) {
    const p = prev.get(name) ?? { rx: 0, tx: 0 };
    rx += Math.max(0, c.rx - p.rx);
    tx += Math.max(0, c.tx - p.tx);
  }
  return { rx, tx };
}

function sampleCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}

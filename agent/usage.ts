import { cpus, freemem, totalmem } from 'node:os';
import { statfs } from 'node:fs/promises';
import type { Resources } from '../core/index.ts';

const MiB = 1024 * 1024;

export async function detectCapacity(dataDir: string): Promise<Resources> {
  const fs = await statfs(dataDir).catch(() => undefined);
  return {
    cpu: cpus().length,
    memoryMiB: Math.round(totalmem() / MiB),
    diskMiB: fs ? Math.round((fs.blocks * fs.bsize) / MiB) : 0,
    accelerators: {},
  };
}

/** CPU in cores used since the previous sample (all processes), memory and disk in use. */
export class UsageSampler {
  private prev = sampleCpu();
  constructor(private readonly dataDir: string) {}

  async sample(): Promise<{ cpu: number; memoryMiB: number; diskMiB: number }> {
    const cur = sampleCpu();
    const busy = cur.busy - this.prev.busy;
    const total = cur.total - this.prev.total;
    this.prev = cur;
    const fs = await statfs(this.dataDir).catch(() => undefined);
    return {
      cpu: total > 0 ? Math.round((busy / total) * cpus().length * 100) / 100 : 0,
      memoryMiB: Math.round((totalmem() - freemem()) / MiB),
      diskMiB: fs ? Math.round(((fs.blocks - fs.bfree) * fs.bsize) / MiB) : 0,
    };
  }
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

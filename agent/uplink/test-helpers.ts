import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '../../core/index.ts';
import { joinAsNode, startCenterProcess, type CenterHandle, type NodeIdentity } from '../../testkit/index.ts';

/**
 * Makes `site` exist and joins a node to it the way an agent does (join
 * token + CSR -> POST /api/v1/join), returning the credential and
 * certificate the uplink sender authenticates with.
 */
export async function joinNode(center: CenterHandle, name: string, site: string, devices: string[] = []): Promise<NodeIdentity> {
  await center.api.apply(`apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: ${site} }\nspec: { tier: edge }\n`);
  // The devices whose messages the node will send: a node speaks only for its site's devices.
  if (devices.length) await center.api.apply(devices.map((d) => `apiVersion: gedge.io/v1\nkind: Device\nmetadata: { name: ${d} }\nspec: { site: ${site} }\n`).join('---\n'));
  return joinAsNode(center, name, site);
}

/** A table-sink (or other) Route in the default project, taking every device topic. */
export function routeManifest(name: string, sink: Record<string, unknown> = { type: 'table' }): string {
  return `apiVersion: gedge.io/v1\nkind: Route\nmetadata: { name: ${name} }\nspec: { topic: 'devices/#', sink: ${JSON.stringify(sink)} }\n`;
}

export interface TableRow {
  id: number;
  node: string;
  seq: number;
  device?: string;
  payload: string;
  /** utf8 when the payload is valid UTF-8 text, else base64. */
  encoding: 'utf8' | 'base64';
  /** Edge receive time and center commit time (ISO 8601). */
  at: string;
  receivedAt: string;
}

/** Every row of a route's table sink, oldest first, through the query API. */
export async function tableRows(api: ApiClient, route: string): Promise<TableRow[]> {
  const rows: TableRow[] = [];
  for (let after = 0; ; ) {
    const page = await api.messages('default', route, { after, limit: 1000 });
    if (!page.items.length) return rows;
    rows.push(...page.items);
    after = page.next;
  }
}

export interface UplinkEnv {
  /** Replaced when a test restarts the center. */
  center: CenterHandle;
  /** The node credential of edge-1 (site edge-a). */
  credential: string;
  /** edge-1's TLS material: the center's CA, its key and certificate. */
  tls: NodeIdentity['tls'];
  /** A temporary directory removed after the file's tests. */
  tempDir(): string;
}

/** Registers before/after hooks for a file's tests: one center process with node edge-1 joined, and temporary dirs cleaned up. */
export function uplinkEnv(dirPrefix: string): UplinkEnv {
  const dirs: string[] = [];
  const env = {
    tempDir: () => {
      const d = mkdtempSync(join(tmpdir(), dirPrefix));
      dirs.push(d);
      return d;
    },
  } as UplinkEnv;
  before(async () => {
    env.center = await startCenterProcess();
    const id = await joinNode(env.center, 'edge-1', 'edge-a', ['d0', 'd1', 'd2']);
    env.credential = id.credential;
    env.tls = id.tls;
  });
  after(async () => {
    await env.center.process.stop();
    rmSync(env.center.dataDir, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return env;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient, waitFor, type Node, type Service } from '../core/index.ts';
import { saveConfig } from './config.ts';

const BIN = fileURLToPath(new URL('../bin/gedge.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const SITES = `
apiVersion: gedge.io/v1
kind: Site
metadata: { name: cloud }
spec: { tier: cloud, location: { lat: 37.5665, lon: 126.978 }, description: central cloud }
---
apiVersion: gedge.io/v1
kind: Site
metadata: { name: edge-a }
spec: { tier: edge, parent: cloud, location: { lat: 37.4979, lon: 127.0276 }, description: intersection group A }
---
apiVersion: gedge.io/v1
kind: Site
metadata: { name: edge-b }
spec: { tier: edge, parent: cloud, location: { lat: 37.5172, lon: 127.0473 }, description: intersection group B }
`;
/** Edge agents run a broker for their site's devices, on the center's port + `mqtt` when that is free. */
const AGENTS = [
  { name: 'cloud-1', site: 'cloud' },
  { name: 'edge-a-1', site: 'edge-a', mqtt: 1 },
  { name: 'edge-b-1', site: 'edge-b', mqtt: 2 },
];

/**
 * `gedge up` (= `npm start`): one center and three agents as separate
 * processes, each with its own data dir under --data-dir, plus the hello
 * example. A second run resumes from the same state; Ctrl-C stops it all.
 */
export async function runUp(o: { dataDir: string; port: number }): Promise<void> {
  const dir = resolve(o.dataDir);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const port = (await portFree(o.port)) ? o.port : 0;
  const tokenFile = join(dir, 'admin.token');
  const children: ChildProcess[] = [];
  let stopping = false;

  // The center runs in the cloud site, so agents' round trips to it measure their links to the cloud.
  const center = launch('center', ['center', '--data-dir', join(dir, 'center'), '--port', String(port), '--site', 'cloud', '--admin-token-file', tokenFile], dir);
  children.push(center);
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping agents and center…');
    await Promise.all(children.slice(1).map(stopChild));
    await stopChild(center);
    console.log('stopped; run npm start again to resume from the same state');
    process.exit(0);
  };
  process.on('SIGINT', () => void stopAll());
  process.on('SIGTERM', () => void stopAll());
  center.on('exit', (code) => {
    if (!stopping) {
      console.error(`center exited (${code}); see ${join(dir, 'logs', 'center.log')}`);
      void stopAll();
    }
  });

  const url = await centerUrl(join(dir, 'logs', 'center.log'));
  const token = await waitFor(() => (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined), 30_000, 'the admin token', 200);
  const api = new ApiClient(url, token);
  await api.apply(SITES);

  const brokers: string[] = [];
  for (const a of AGENTS) {
    const data = join(dir, 'agents', a.name);
    const args = ['agent', '--center', url, '--data-dir', data, '--name', a.name, '--site', a.site];
    if (a.mqtt !== undefined) {
      const wanted = new URL(url).port ? Number(new URL(url).port) + a.mqtt : 0;
      const mqtt = `127.0.0.1:${wanted && (await portFree(wanted)) ? wanted : await freePort()}`;
      args.push('--mqtt-listen', mqtt);
      brokers.push(`${a.site} mqtt://${mqtt}`);
    }
    if (!existsSync(join(data, 'identity.json'))) args.push('--join-token', (await api.createToken({ site: a.site, ttlSeconds: 600, description: `gedge up: ${a.name}` })).token);
    children.push(launch(a.name, args, dir));
  }
  // Apply once every node is Ready so the replicas spread over both edge sites.
  await waitFor(async () => {
    const nodes = (await api.list<Node>('Node')).items;
    return AGENTS.every((a) => nodes.some((n) => n.metadata.name === a.name && n.status?.phase === 'Ready')) || undefined;
  }, 60_000, 'the agents to be Ready', 200);
  await api.apply(readFileSync(join(ROOT, 'examples', 'hello', 'service.yaml'), 'utf8'));
  const configFile = saveConfig({ server: url, token });

  console.log(`
gedge is up.
  Dashboard:    ${url}/   (sign in with the admin token)
  API:          ${url}/api/v1   (OpenAPI: ${url}/api/v1/openapi.json)
  Admin token:  ${token}
  CLI config:   ${configFile}
  State, logs:  ${dir}

  Devices:      ${brokers.join(', ')}   (docs/broker.md)

Try:
  npx gedge get nodes
  npx gedge get instances -o wide
  npx gedge describe service hello

Waiting for the hello service (3 replicas on the edge sites)…`);
  const svc = await waitFor(async () => {
    const s = await api.get<Service>('Service', 'hello').catch(() => undefined);
    return s && (s.status?.ready ?? 0) >= s.spec.replicas ? s : undefined;
  }, 120_000, 'hello to be ready', 200);
  console.log(`hello: ${svc.status!.ready}/${svc.spec.replicas} ready. Ctrl-C stops everything.`);
}

function launch(name: string, args: string[], dir: string): ChildProcess {
  // A fresh log per run (the previous one is kept as .1), so waiting for a line never finds an old one.
  const file = join(dir, 'logs', `${name}.log`);
  if (existsSync(file)) renameSync(file, `${file}.1`);
  const log = createWriteStream(file);
  // Own process group: a terminal's Ctrl-C reaches only `up`, which stops agents before the center.
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    c.once('exit', () => (clearTimeout(t), res()));
    c.kill('SIGTERM');
  });
}

async function centerUrl(logFile: string): Promise<string> {
  return waitFor(() => {
    if (!existsSync(logFile)) return undefined;
    const lines = readFileSync(logFile, 'utf8').split('\n').reverse();
    for (const l of lines) {
      if (!l.includes('center listening')) continue;
      try {
        return (JSON.parse(l) as { url: string }).url;
      } catch {
        continue;
      }
    }
    return undefined;
  }, 60_000, 'the center to listen', 200);
}


function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

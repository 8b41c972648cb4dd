import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient, waitFor, type Node } from '../core/index.ts';
import { Wan } from '../sim/index.ts';
import { saveContext } from './config.ts';
import { gedgeArgv } from './launch.ts';
import { SCENARIOS, type UpOptions } from './scenarios.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * `gedge up` (= `npm start`): a scenario on one machine (cli/scenarios.ts).
 * The smart city by default: a center and six agents (cloud, a region, four
 * edges) as separate processes, each with its own data dir under
 * --data-dir, the WAN between them emulated on loopback, examples/smart-city
 * deployed, the traffic simulator driving 200 devices, the vehicles with
 * their assistant and a rush hour now and then, and the hello example; or the smart airport (`--scenario airport`). A second run
 * resumes from the same state; Ctrl-C stops it all.
 */
export async function runUp(o: UpOptions): Promise<void> {
  const scenario = SCENARIOS[o.scenario];
  const AGENTS = scenario.agents;
  const dir = resolve(o.dataDir);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  // Workloads run as their projects' users and must pass through to what their agent gives them (model files, volumes).
  mkdirSync(join(dir, 'agents'), { recursive: true });
  chmodSync(join(dir, 'agents'), 0o711);
  // The browser's listener (plain HTTP, loopback only) keeps the well-known port; the HTTPS one, for agents and tools, takes any.
  const port = (await portFree(o.port)) ? o.port : 0;
  const tokenFile = join(dir, 'admin.token');
  const children: ChildProcess[] = [];
  let stopping = false;
  /** What stopAll stops, as it comes up. */
  const parts: { wan?: Wan; sims: ChildProcess[]; ticker?: NodeJS.Timeout; cancel?: () => void } = { sims: [] };

  // The center runs in the cloud site, so agents' round trips to it measure their links to the cloud.
  const center = launch('center', ['center', '--data-dir', join(dir, 'center'), '--port', '0', '--local-listen', `127.0.0.1:${port}`, '--site', 'cloud', '--admin-token-file', tokenFile], dir);
  children.push(center);
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(parts.ticker);
    parts.cancel?.();
    console.log('\nstopping the simulator, agents and center…');
    // The simulators first: they revoke their devices' credentials through the center.
    await Promise.all(parts.sims.map(stopChild));
    await Promise.all(children.slice(1).map(stopChild));
    await stopChild(center);
    await parts.wan?.close();
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

  const { url, localUrl, caPin } = await centerUrl(join(dir, 'logs', 'center.log'));
  const token = await waitFor(() => (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined), 30_000, 'the admin token', 200);
  const caFile = join(dir, 'center', 'pki', 'ca.crt');
  const ca = readFileSync(caFile, 'utf8');
  const api = new ApiClient(url, token, ca);
  await api.apply(readFileSync(scenario.sitesFile, 'utf8'));
  const wan = (parts.wan = new Wan(Number(new URL(url).port), o.wan));

  const brokers = new Map<string, number>();
  const resolvers = new Map<string, string>();
  for (const [k, a] of AGENTS.entries()) {
    const data = join(dir, 'agents', a.name);
    const via = a.tier === 'cloud' ? url : await wan.centerUrl(a.site, a.tier);
    // Probes cross the WAN as the site's traffic does: the latency map shows the city.
    const probePort = await freePort();
    const args = ['agent', '--center', via, '--data-dir', data, '--name', a.name, '--site', a.site, '--probe-listen', `127.0.0.1:${probePort}`, '--probe-advertise', await wan.probeAddress(a.site, a.tier, probePort)];
    // So does endpoint traffic between sites, through each agent's gateway.
    const gatewayPort = await freePort();
    args.push('--gateway-listen', `127.0.0.1:${gatewayPort}`, '--gateway-advertise', await wan.gatewayAddress(a.site, a.tier, gatewayPort));
    // The site's endpoint resolver at a known address: the site's clients (the vehicles) ask it where a Service listens.
    const wantedResolver = Number(new URL(localUrl).port) + 10 + k;
    const resolver = `127.0.0.1:${(await portFree(wantedResolver)) ? wantedResolver : await freePort()}`;
    args.push('--endpoint-listen', resolver);
    resolvers.set(a.site, resolver);
    if (a.mqtt !== undefined) {
      const wanted = Number(new URL(localUrl).port) + a.mqtt;
      const mqttPort = (await portFree(wanted)) ? wanted : await freePort();
      // MQTTS only, with the node's certificate from the center's CA: devices and bridges verify it (docs/security.md).
      args.push('--mqtt-tls-listen', `127.0.0.1:${mqttPort}`);
      brokers.set(a.site, mqttPort);
    }
    // The join token goes in the environment, not the arguments every user of the machine can read.
    const env: Record<string, string> = existsSync(join(data, 'identity.json')) ? {} : { GEDGE_JOIN_TOKEN: (await api.createToken({ site: a.site, ttl: '10m', description: `gedge up: ${a.name}` })).token, GEDGE_CA_PIN: caPin };
    children.push(launch(a.name, args, dir, env));
  }
  // Deploy once every node is Ready, so the rules start everywhere and the replicas spread.
  await waitFor(async () => {
    const nodes = (await api.list<Node>('Node')).items;
    return AGENTS.every((a) => nodes.some((n) => n.metadata.name === a.name && n.status?.phase === 'Ready')) || undefined;
  }, 60_000, 'the agents to be Ready', 200);
  const deployed = await scenario.deploy({ api, wan, brokers, resolvers, caFile, o });
  const configFile = saveContext('gedge-up', { server: url, token, ca });
  parts.sims = deployed.sims.map((sim) => launch(sim.name, sim.args, dir, { GEDGE_SERVER: url, GEDGE_TOKEN: token, GEDGE_CA_FILE: caFile }));

  console.log(`
gedge is up: ${scenario.description}.
  Dashboard:    ${localUrl}/#/${deployed.page}   (sign in with the admin token; plain HTTP on loopback only, docs/security.md)
  API:          ${url}/api/v1   (HTTPS, CA pin ${caPin}; OpenAPI: ${url}/api/v1/openapi.json)
  Admin token:  ${token}
  CLI config:   ${configFile}
  State, logs:  ${dir}

${deployed.banner.join('\n')}
`);
  if (o.outage) {
    const out = o.outage;
    wan.schedule(out, (what) => console.log(what === 'cut' ? `outage: ${out.site} cut off from the cloud for ${out.durationMs / 1000} s` : `outage: ${out.site} reconnected; its uplink catches up`));
    console.log(`outage planned: ${out.site} in ${out.afterMs / 1000} s, for ${out.durationMs / 1000} s`);
  }
  parts.cancel = deployed.later?.((line) => console.log(line));
  parts.ticker = setInterval(() => void deployed.status().then((line) => console.log(line), () => {}), 10_000);
}

function launch(name: string, args: string[], dir: string, env: Record<string, string> = {}): ChildProcess {
  // A fresh log per run (the previous one is kept as .1), so waiting for a line never finds an old one.
  const file = join(dir, 'logs', `${name}.log`);
  if (existsSync(file)) renameSync(file, `${file}.1`);
  const log = createWriteStream(file);
  // Own process group: a terminal's Ctrl-C reaches only `up`, which stops agents before the center.
  const child = spawn(process.execPath, gedgeArgv(args), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
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

async function centerUrl(logFile: string): Promise<{ url: string; localUrl: string; caPin: string }> {
  return waitFor(() => {
    if (!existsSync(logFile)) return undefined;
    const lines = readFileSync(logFile, 'utf8').split('\n').reverse();
    for (const l of lines) {
      if (!l.includes('center listening')) continue;
      try {
        return JSON.parse(l) as { url: string; localUrl: string; caPin: string };
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

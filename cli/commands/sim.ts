import type { Command } from 'commander';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';

interface Conn {
  server?: string;
  token?: string;
}

interface TrafficFlags {
  project: string;
  sites?: string;
  devices: string;
  rate: string;
  cycle: string;
  incident: string[];
  duration: string;
  seed: string;
  statsEvery: string;
  connectTimeout: string;
  output: string;
}

/** sim traffic, cctv, vehicles: the scenarios' simulators (sim/), against the center and edges the CLI is logged in to. */
export function registerSimCommands(program: Command): void {
  const sim = program.command('sim').description('simulators that drive the platform with real devices');
  registerCctv(sim);
  registerVehicles(sim);
  sim
    .command('traffic')
    .description('smart-city traffic: loop detectors, cameras and traffic lights as MQTT devices on the edge brokers (needs an admin token: it provisions)')
    .option('-p, --project <project>', 'project (created when missing)', 'city')
    .option('--sites <sites>', 'edge sites, comma separated (default: every edge site with a broker)')
    .option('--devices <n>', 'devices in all: 6 per intersection (4 loops, a camera, a light)', '200')
    .option('--rate <hz>', 'messages per second of each sensor', '10')
    .option('--cycle <duration>', 'length of the compressed day: calm, morning rush, calm, evening rush', '120s')
    .option('--incident <spec>', 'SITE/INTERSECTION/APPROACH@START+DURATION, e.g. edge-a/i3/n@30s+60s: one lane closed (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--duration <duration>', 'stop after this long (0: until interrupted)', '0')
    .option('--seed <n>', 'random seed: the same seed, the same traffic', '1')
    .option('--stats-every <duration>', 'print stats this often (0: only the summary)', '5s')
    .option('--connect-timeout <duration>', 'how long to wait for every device to connect', '60s')
    .option('-o, --output <format>', 'text | json (one stats object per line)', 'text')
    .action(async (f: TrafficFlags, cmd: Command) => {
      const { startTrafficSim, parseDuration, parseIncident, formatStats, formatSummary } = await import('../../sim/index.ts');
      if (f.output !== 'text' && f.output !== 'json') throw new CliError(`--output: expected text or json, got "${f.output}"`);
      const json = f.output === 'json';
      const statsEveryMs = parseDuration(f.statsEvery, '--stats-every');
      const run = await startTrafficSim({
        api: client(cmd.optsWithGlobals<Conn>()),
        project: f.project,
        sites: f.sites?.split(',').map((s) => s.trim()).filter(Boolean),
        devices: number(f.devices, '--devices'),
        rate: number(f.rate, '--rate'),
        cycleMs: parseDuration(f.cycle, '--cycle'),
        incidents: f.incident.map(parseIncident),
        durationMs: parseDuration(f.duration, '--duration'),
        seed: number(f.seed, '--seed'),
        connectTimeoutMs: parseDuration(f.connectTimeout, '--connect-timeout'),
        log: (line) => console.error(line),
      });
      const ticker = statsEveryMs > 0 ? setInterval(() => console.log(json ? JSON.stringify(run.stats()) : formatStats(run.stats())), statsEveryMs) : undefined;
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        // A second signal: stop waiting for a clean disconnect.
        if (++signals > 1) process.exit(130);
        console.error(`${sig}: disconnecting the devices...`);
        void run.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const final = await run.done;
      clearInterval(ticker);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      console.log(json ? JSON.stringify({ final: true, ...final }) : formatSummary(final));
    });
}

/** sim cctv: the airport's cameras (sim/cctv), publishing Fashion-MNIST test frames to their terminal's edge broker. */
function registerCctv(sim: Command): void {
  sim
    .command('cctv')
    .description("smart-airport CCTV: cameras as MQTT devices on the terminals' edge brokers, publishing Fashion-MNIST test frames with their true class (needs an admin token: it provisions; needs Debian's dataset-fashion-mnist)")
    .option('-p, --project <project>', 'project (the airport scenario deploys it)', 'airport')
    .requiredOption('--sites <sites>', 'edge sites, comma separated')
    .option('--cameras <n>', 'cameras per site', '4')
    .option('--fps <n>', 'frames a second, each camera', '2')
    .option('--stats-every <duration>', 'print frames sent this often (0: never)', '10s')
    .action(async (f: { project: string; sites: string; cameras: string; fps: string; statsEvery: string }, cmd: Command) => {
      const { startCctvSim, parseDuration } = await import('../../sim/index.ts');
      const every = parseDuration(f.statsEvery, '--stats-every');
      const run = await startCctvSim({
        api: client(cmd.optsWithGlobals<Conn>()),
        project: f.project,
        sites: f.sites.split(',').map((s) => s.trim()).filter(Boolean),
        cameras: number(f.cameras, '--cameras'),
        fps: number(f.fps, '--fps'),
        log: (line) => console.error(line),
      });
      const ticker = every > 0 ? setInterval(() => console.log(JSON.stringify(run.stats())), every) : undefined;
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          clearInterval(ticker);
          void run.stop().then((final) => {
            console.log(JSON.stringify({ final: true, ...final }));
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}

interface VehicleFlags {
  project: string;
  resolvers: string;
  vehicles: string;
  leg: string;
  interval: string;
  surgeSite?: string;
  surgeEvery: string;
  surgeFor: string;
  surgeRate: string;
  window: string;
  duration: string;
  statsEvery: string;
  output: string;
}

/** sim vehicles: vehicles with the assistant (route guidance) driving through the edge sites' endpoints, and a rush hour at one of them. */
function registerVehicles(sim: Command): void {
  sim
    .command('vehicles')
    .description("smart-city vehicles: each asks the assistant (Service assist) for guidance at its nearest edge site's endpoint, its session following it; a rush hour now and then at one site (needs an admin token: it provisions the roadside reporters)")
    .option('-p, --project <project>', 'project (the smart city deploys assist there)', 'city')
    .requiredOption('--resolvers <list>', "SITE=HOST:PORT,...: each edge site's endpoint resolver (gedge agent --endpoint-listen); the vehicles drive through these sites")
    .option('--vehicles <n>', 'vehicles', '8')
    .option('--leg <duration>', 'driving time from one site to the next (a hand-over about every leg)', '30s')
    .option('--interval <duration>', "between a vehicle's requests", '500ms')
    .option('--surge-site <site>', 'the site the rush hour hits (none without it)')
    .option('--surge-every <duration>', 'a rush hour this often', '120s')
    .option('--surge-for <duration>', 'each lasting this long', '30s')
    .option('--surge-rate <n>', 'route lookups a second during a rush hour', '75')
    .option('--window <duration>', "the reporters' windows of response times", '5s')
    .option('--duration <duration>', 'stop after this long (0: until interrupted)', '0')
    .option('--stats-every <duration>', 'print stats this often (0: only the summary)', '10s')
    .option('-o, --output <format>', 'text | json (one stats object per line)', 'text')
    .action(async (f: VehicleFlags, cmd: Command) => {
      const { startVehicleSim, parseDuration, parseResolvers, formatVehicleStats } = await import('../../sim/index.ts');
      if (f.output !== 'text' && f.output !== 'json') throw new CliError(`--output: expected text or json, got "${f.output}"`);
      const json = f.output === 'json';
      const statsEveryMs = parseDuration(f.statsEvery, '--stats-every');
      const run = await startVehicleSim({
        api: client(cmd.optsWithGlobals<Conn>()),
        project: f.project,
        resolvers: parseResolvers(f.resolvers),
        vehicles: number(f.vehicles, '--vehicles'),
        legMs: parseDuration(f.leg, '--leg'),
        intervalMs: parseDuration(f.interval, '--interval'),
        surge: f.surgeSite === undefined ? undefined : { site: f.surgeSite, everyMs: parseDuration(f.surgeEvery, '--surge-every'), forMs: parseDuration(f.surgeFor, '--surge-for'), rate: number(f.surgeRate, '--surge-rate') },
        windowMs: parseDuration(f.window, '--window'),
        durationMs: parseDuration(f.duration, '--duration'),
        log: (line) => console.error(line),
      });
      const print = () => console.log(json ? JSON.stringify(run.stats()) : formatVehicleStats(run.stats()));
      const ticker = statsEveryMs > 0 ? setInterval(print, statsEveryMs) : undefined;
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (++signals > 1) process.exit(130);
        console.error(`${sig}: stopping the vehicles...`);
        void run.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const final = await run.done;
      clearInterval(ticker);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      console.log(json ? JSON.stringify({ final: true, ...final }) : formatVehicleStats(final));
    });
}

function number(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new CliError(`${flag}: expected a number, got "${text}"`);
  return n;
}

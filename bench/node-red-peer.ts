// Node-RED 4 as the peer of the rule engine: the same three rules as flows of
// core nodes (mqtt in -> function -> mqtt out) against the same broker, in a
// process of its own so that its CPU can be read from its pid.
//  - Headless: no admin, editor or node HTTP root, so nothing listens; no
//    telemetry, update check, diagnostics or palette installer (that one
//    would run `npm -v` at start), logging at warn.
//  - Credentials of the mqtt-broker node go in flows_cred.json in plain text
//    (credentialSecret: false); Node-RED names that file after the flow file
//    and always looks for it in userDir.
//  - Readiness: every flow also echoes bench/nr-ping to bench/nr-pong. The
//    ping subscription is the last one the broker node makes, and a broker
//    handles a connection's SUBSCRIBEs in order, so an echo of our nonce
//    means the rule's own subscription is active too.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';

export type NodeRedFlow =
  /** Every message on `input` with speed < 20 goes to `output` as {deviceId, speed}. */
  | { kind: 'filter'; input: string; output: string }
  /** Per deviceId, {deviceId, v: avg(speed), n: count} on `output` at the end of each epoch-aligned tumbling window. */
  | { kind: 'window'; input: string; output: string; windowMs: number }
  /** Every message on `input` with queue > 5 produces {light: 'red', ts} on `output`/<deviceId>. */
  | { kind: 'actuate'; input: string; output: string };

export interface NodeRedPeer {
  pid: number;
  stop(): Promise<void>;
}

export interface NodeRedOptions {
  mqttUrl: string;
  /** '' for an anonymous connection. */
  username: string;
  password: string;
  clientId: string;
  flow: NodeRedFlow;
  /** Node-RED's user directory; the caller owns it (stop() leaves it). */
  userDir: string;
  /** The readiness probe's own connection; default: clientId + '-probe' with the same username and password. */
  probe?: { clientId: string; username: string; password: string };
}

export const PING_TOPIC = 'bench/nr-ping';
export const PONG_TOPIC = 'bench/nr-pong';
const READY_TIMEOUT_MS = 30_000;
const PING_EVERY_MS = 250;
const STOP_GRACE_MS = 5_000;
const TAIL_CHARS = 4_000;

const RED_JS = createRequire(import.meta.url).resolve('node-red/red.js');

/** Starts Node-RED on `o.flow`; resolves once the flow's subscriptions are active on the broker. */
export async function startNodeRed(o: NodeRedOptions): Promise<NodeRedPeer> {
  mkdirSync(o.userDir, { recursive: true });
  const settingsFile = writeConfig(o);
  const child = spawn(process.execPath, [RED_JS, '--settings', settingsFile], {
    cwd: o.userDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? o.userDir, NODE_RED_DISABLE_TELEMETRY: '1' },
  });
  // Node-RED logs to stdout, crashes go to stderr: keep the end of both, interleaved.
  let tail = '';
  const keep = (d: Buffer) => void (tail = (tail + d.toString()).slice(-TAIL_CHARS));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const peer: NodeRedPeer = { pid: child.pid!, stop: () => stop(child, exited) };
  try {
    await untilEchoed(o, exited.then(() => `Node-RED exited with ${child.exitCode ?? child.signalCode} before it was ready`));
    return peer;
  } catch (err) {
    await peer.stop();
    throw new Error(`${(err as Error).message}; Node-RED's output ends with:\n${tail}`, { cause: err });
  }
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  child.kill('SIGTERM');
  await exited;
  clearTimeout(kill);
}

/** Pings through Node-RED with a nonce until it comes back, with our own client; gives up when `gone` says why. */
async function untilEchoed(o: NodeRedOptions, gone: Promise<string>): Promise<void> {
  const probe = o.probe ?? { clientId: `${o.clientId}-probe`, username: o.username, password: o.password };
  const nonce = randomUUID();
  let client: MqttClient | undefined;
  let ping: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let probeError = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const late = () => new Error(`no echo on ${PONG_TOPIC} within ${READY_TIMEOUT_MS} ms${probeError && ` (the probe's last error: ${probeError})`}`);
      deadline = setTimeout(() => reject(late()), READY_TIMEOUT_MS);
      void gone.then((why) => reject(new Error(why)));
      client = mqtt.connect(o.mqttUrl, { ...credentials(probe), clientId: probe.clientId, protocolVersion: 4, clean: true, reconnectPeriod: 500 });
      // The probe retries like Node-RED does; a refusal of its own shows in the timeout's message.
      client.on('error', (err) => void (probeError = err.message));
      client.on('message', (_topic, payload) => {
        if (payload.toString() === nonce) resolve();
      });
      client.on('connect', () => {
        client!.subscribe(PONG_TOPIC, { qos: 0 }, (err) => {
          if (err) return reject(err);
          clearInterval(ping);
          const send = () => void client!.publish(PING_TOPIC, nonce, { qos: 0 });
          send();
          ping = setInterval(send, PING_EVERY_MS);
        });
      });
    });
  } finally {
    clearInterval(ping);
    clearTimeout(deadline);
    await client?.endAsync();
  }
}

function credentials(c: { username: string; password: string }): { username?: string; password?: string } {
  return c.username === '' ? {} : { username: c.username, password: c.password };
}

/** Writes settings, flows and credentials into userDir; returns the settings file. */
function writeConfig(o: NodeRedOptions): string {
  const flowFile = join(o.userDir, 'flows.json');
  const settings = {
    userDir: o.userDir,
    flowFile,
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    uiHost: '127.0.0.1',
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    editorTheme: { projects: { enabled: false } },
    logging: { console: { level: 'warn', metrics: false, audit: false } },
  };
  // CommonJS whatever package.json sits above userDir: red.js require()s it.
  const settingsFile = join(o.userDir, 'settings.cjs');
  writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  writeFileSync(flowFile, JSON.stringify(flowNodes(o), null, 2));
  const creds = o.username === '' ? {} : { [BROKER_ID]: { user: o.username, password: o.password } };
  writeFileSync(join(o.userDir, 'flows_cred.json'), JSON.stringify(creds, null, 2));
  return settingsFile;
}

const TAB_ID = 'bench-tab';
const BROKER_ID = 'bench-broker';

function flowNodes(o: NodeRedOptions): object[] {
  const url = new URL(o.mqttUrl);
  const broker = {
    id: BROKER_ID,
    type: 'mqtt-broker',
    name: 'bench',
    broker: url.hostname || '127.0.0.1',
    port: url.port || '1883',
    clientid: o.clientId,
    autoConnect: true,
    usetls: false,
    protocolVersion: 4,
    keepalive: 60,
    cleansession: true,
    autoUnsubscribe: true,
    birthTopic: '',
    closeTopic: '',
    willTopic: '',
  };
  const at = (id: string, y: number) => ({ id, z: TAB_ID, x: 200, y });
  const f = o.flow;
  const output = f.kind === 'actuate' ? '' : f.output; // actuate sets msg.topic per device
  // Order matters: the ping subscription must come after the rule's (see the top of this file).
  return [
    { id: TAB_ID, type: 'tab', label: `bench ${f.kind}`, disabled: false, info: '' },
    broker,
    { ...at('rule-in', 100), type: 'mqtt in', name: 'input', topic: f.input, qos: '0', datatype: 'json', broker: BROKER_ID, nl: false, rap: true, rh: 0, inputs: 0, wires: [['rule-fn']] },
    { ...at('rule-fn', 160), type: 'function', name: f.kind, ...functionCode(f), outputs: 1, timeout: 0, noerr: 0, libs: [], wires: [['rule-out']] },
    { ...at('rule-out', 220), type: 'mqtt out', name: 'output', topic: output, qos: '0', retain: 'false', broker: BROKER_ID, wires: [] },
    { ...at('ping-in', 300), type: 'mqtt in', name: 'ping', topic: PING_TOPIC, qos: '0', datatype: 'utf8', broker: BROKER_ID, nl: false, rap: true, rh: 0, inputs: 0, wires: [['pong-out']] },
    { ...at('pong-out', 360), type: 'mqtt out', name: 'pong', topic: PONG_TOPIC, qos: '0', retain: 'false', broker: BROKER_ID, wires: [] },
  ];
}

/** The function node's code: `func` per message, `initialize` on start, `finalize` on stop. */
function functionCode(f: NodeRedFlow): { func: string; initialize: string; finalize: string } {
  const payload = `const p = msg.payload;\nif (p === null || typeof p !== 'object') return null;\n`;
  switch (f.kind) {
    case 'filter':
      return { func: `${payload}return p.speed < 20 ? { payload: { deviceId: p.deviceId, speed: p.speed } } : null;`, initialize: '', finalize: '' };
    case 'actuate':
      return { func: `${payload}return p.queue > 5 ? { topic: ${JSON.stringify(`${f.output}/`)} + p.deviceId, payload: { light: 'red', ts: p.ts } } : null;`, initialize: '', finalize: '' };
    case 'window':
      // Accumulators keyed by window index: a message that arrives after a
      // window's end but before its timer fires belongs to the next window.
      // A timeout re-armed at each end, unlike setInterval, does not drift.
      return {
        func: `${payload}if (typeof p.speed !== 'number') return null;
const w = Math.floor(Date.now() / ${f.windowMs});
const windows = context.get('windows');
let devices = windows.get(w);
if (devices === undefined) windows.set(w, (devices = new Map()));
const a = devices.get(p.deviceId);
if (a === undefined) devices.set(p.deviceId, { sum: p.speed, n: 1 });
else { a.sum += p.speed; a.n++; }
return null;`,
        initialize: `const W = ${f.windowMs};
const windows = new Map();
context.set('windows', windows);
const close = () => {
  const now = Math.floor(Date.now() / W);
  for (const [w, devices] of windows) {
    if (w >= now) continue;
    for (const [deviceId, a] of devices) node.send({ payload: { deviceId, v: a.sum / a.n, n: a.n } });
    windows.delete(w);
  }
  context.set('timer', setTimeout(close, W - (Date.now() % W)));
};
context.set('timer', setTimeout(close, W - (Date.now() % W)));`,
        finalize: `clearTimeout(context.get('timer'));`,
      };
  }
}

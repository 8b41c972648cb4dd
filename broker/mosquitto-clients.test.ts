import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startBroker, TestDirectory, until } from './test-helpers.ts';

/** Mosquitto's own command-line clients as devices: another MQTT implementation than the one our tests otherwise use. */

const directory = new TestDirectory().add('acme', 'sensor', 's3cret', { publish: ['plant/#'] }).add('acme', 'panel', 'p4nel', { subscribe: ['plant/#'] });

const VERSIONS = [
  ['MQTT 3.1.1', 'mqttv311'],
  ['MQTT 5', 'mqttv5'],
] as const;

function identity(port: number, clientId: string, secret: string, version: string): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-i', clientId, '-u', clientId, '-P', secret];
}

/** Runs mosquitto_pub; resolves with its exit code (a failure's stderr goes to the test's output, to say why). */
function pub(args: string[]): Promise<number> {
  return new Promise((resolve) =>
    execFile('/usr/bin/mosquitto_pub', args, { timeout: 10_000 }, (err, _out, stderr) => {
      if (err) console.error(`mosquitto_pub ${args.slice(-6).join(' ')} exited ${String((err as { code?: number }).code)}: ${stderr.trim()}`);
      resolve(err ? Number((err as { code?: number }).code ?? -1) : 0);
    }),
  );
}

for (const [name, version] of VERSIONS) {
  test(`${name}: mosquitto_pub and mosquitto_sub as devices, retained and live messages`, async () => {
    const b = await startBroker(directory);
    try {
      const port = b.broker.ports.tcp!;
      assert.equal(await pub([...identity(port, 'acme/sensor', 's3cret', version), '-t', 'plant/1/temp', '-m', 'retained', '-q', '1', '-r']), 0);
      const sub = spawn('/usr/bin/mosquitto_sub', [...identity(port, 'acme/panel', 'p4nel', version), '-t', 'plant/#', '-q', '2', '-v', '-C', '3', '-W', '20']);
      const lines: string[] = [];
      createInterface({ input: sub.stdout }).on('line', (l) => lines.push(l));
      // 'close', not 'exit': the process may exit before its last output line has been read.
      const exited = new Promise<number | null>((resolve) => sub.on('close', (code) => resolve(code)));
      // The retained message proves the subscription is in place.
      await until(() => lines.length === 1, 'the retained message at mosquitto_sub', 10_000);
      assert.equal(await pub([...identity(port, 'acme/sensor', 's3cret', version), '-t', 'plant/2/temp', '-m', 'live q1', '-q', '1']), 0);
      assert.equal(await pub([...identity(port, 'acme/sensor', 's3cret', version), '-t', 'plant/3/temp', '-m', 'live q2', '-q', '2']), 0);
      assert.equal(await exited, 0);
      assert.deepEqual(lines, ['plant/1/temp retained', 'plant/2/temp live q1', 'plant/3/temp live q2']);
    } finally {
      await b.close();
    }
  });

  test(`${name}: mosquitto_pub with a wrong secret is refused; one outside its grants is dropped`, async () => {
    const b = await startBroker(directory);
    try {
      const port = b.broker.ports.tcp!;
      assert.notEqual(await pub([...identity(port, 'acme/sensor', 'wrong', version), '-t', 'plant/1/temp', '-m', 'x']), 0);
      assert.equal(b.broker.stats().denied.auth, 1);
      // 3.1.1 acknowledges and drops; MQTT 5 gets PUBACK 0x87, which mosquitto_pub reports but still exits once acknowledged.
      await pub([...identity(port, 'acme/sensor', 's3cret', version), '-t', 'secret', '-m', 'x', '-q', '1']);
      assert.equal(b.broker.stats().denied.publish, 1);
      assert.deepEqual(b.seen.published, []);
    } finally {
      await b.close();
    }
  });
}

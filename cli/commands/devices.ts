import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { DeviceCommand } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { DEFAULT_PROJECT } from '../../core/index.ts';
import { durationTextFlag } from '../durations.ts';

interface Conn {
  server?: string;
  token?: string;
}

/** device credentials NAME, device command NAME: what devices need beyond plain resources. */
export function registerDeviceCommands(program: Command): void {
  const device = program.command('device').description('device credentials and commands');
  device
    .command('credentials')
    .description('issue a credential for a device: prints its MQTT client id, username and password (shown once)')
    .argument('<device>')
    .option('-p, --project <project>', '', DEFAULT_PROJECT)
    .option('--ttl <duration>', 'lifetime, e.g. 90d (default: until deleted)', durationTextFlag('--ttl'))
    .option('--description <text>', '', '')
    .action(async (name: string, o: { project: string; ttl?: string; description: string }, cmd: Command) => {
      const c = await client(cmd.optsWithGlobals<Conn>()).issueDeviceCredential(o.project, name, { description: o.description, ttl: o.ttl });
      console.log(`client id: ${c.clientId}\nusername:  ${c.username}\npassword:  ${c.password}`);
      console.error(`credential ${c.credential.metadata.name}; the password is not stored and cannot be shown again (delete the credential to revoke it)`);
    });
  device
    .command('certificate')
    .description("issue an X.509 client certificate for a device from its CSR (openssl req -new -key device.key): prints the certificate; the center's CA goes to --ca-out")
    .argument('<device>')
    .requiredOption('--csr <file>', 'the PEM certificate request, made with the device\'s own key')
    .option('-p, --project <project>', '', DEFAULT_PROJECT)
    .option('--ttl <duration>', 'lifetime, e.g. 90d (default: a year)', durationTextFlag('--ttl'))
    .option('--ca-out <file>', "also write the center's CA certificate here (devices verify their edge with it)")
    .option('--description <text>', '', '')
    .action(async (name: string, o: { csr: string; project: string; ttl?: string; caOut?: string; description: string }, cmd: Command) => {
      let csr: string;
      try {
        csr = readFileSync(o.csr, 'utf8');
      } catch (err) {
        throw new CliError(`--csr: cannot read ${o.csr} (${(err as Error).message})`);
      }
      const c = await client(cmd.optsWithGlobals<Conn>()).issueDeviceCertificate(o.project, name, { csr, description: o.description, ttl: o.ttl });
      process.stdout.write(c.certificate);
      if (o.caOut) writeFileSync(o.caOut, c.ca);
      console.error(`client id: ${c.clientId}; credential ${c.credential.metadata.name} (delete it to revoke the certificate)`);
    });
  device
    .command('command')
    .description("send a command to a device through its edge (held while the edge or the device is offline, until --ttl)")
    .argument('<device>')
    .requiredOption('--payload <text>', 'the payload (JSON objects are sent as JSON)')
    .option('-p, --project <project>', '', DEFAULT_PROJECT)
    .option('--topic <topic>', 'under devices/<device>/', 'commands')
    .option('--ttl <duration>', 'how long to hold it, e.g. 10m', durationTextFlag('--ttl'), '1h')
    .action(async (name: string, o: { payload: string; project: string; topic: string; ttl: string }, cmd: Command) => {
      let payload: string | Record<string, unknown> = o.payload;
      try {
        const v = JSON.parse(o.payload) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) payload = v as Record<string, unknown>;
      } catch {
        // Plain text payload.
      }
      const command: DeviceCommand = {
        apiVersion: 'gedge.io/v1',
        kind: 'DeviceCommand',
        metadata: { name: `${name.slice(0, 48)}-${randomBytes(4).toString('hex')}`, project: o.project, labels: { 'gedge.io/device': name } },
        spec: { device: name, topic: o.topic, payload, ttl: o.ttl },
      };
      const created = await client(cmd.optsWithGlobals<Conn>()).create(command);
      console.log(`devicecommand/${created.metadata.name} created (gedge get devicecommands ${created.metadata.name} for its delivery)`);
    });
}

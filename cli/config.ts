import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ApiClient } from '../core/index.ts';
import { CliError } from './errors.ts';

const cliConfigSchema = z.object({ server: z.string().url(), token: z.string().min(1) });
export type CliConfig = z.infer<typeof cliConfigSchema>;

export function configPath(): string {
  return process.env.GEDGE_CONFIG ?? join(homedir(), '.gedge', 'config');
}

export function saveConfig(cfg: CliConfig): string {
  const file = configPath();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** Flags win over GEDGE_SERVER/GEDGE_TOKEN, which win over the config file written by `gedge login`. */
export function client(opts: { server?: string; token?: string }): ApiClient {
  let file: Partial<CliConfig> = {};
  const path = configPath();
  if (existsSync(path)) {
    const parsed = cliConfigSchema.partial().safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) throw new CliError(`${path}: invalid config (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
    file = parsed.data;
  }
  const server = opts.server ?? process.env.GEDGE_SERVER ?? file.server;
  const token = opts.token ?? process.env.GEDGE_TOKEN ?? file.token;
  if (!server || !token) throw new CliError(`not logged in: run "gedge login --server URL --token TOKEN" (config: ${path})`);
  return new ApiClient(server, token);
}

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ApiClient } from '../core/index.ts';
import { CliError } from './errors.ts';

/** `ca`: the center's CA certificate (PEM), pinned at login; https:// requests trust it and nothing else. */
const cliConfigSchema = z.object({ server: z.string().url(), token: z.string().min(1), ca: z.string().optional() });
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

/**
 * Flags win over GEDGE_SERVER/GEDGE_TOKEN/GEDGE_CA_FILE, which win over the
 * config file written by `gedge login`. The CA is the file's only for the
 * server the file names.
 */
export function client(opts: { server?: string; token?: string; caFile?: string }): ApiClient {
  let file: Partial<CliConfig> = {};
  const path = configPath();
  if (existsSync(path)) {
    const parsed = cliConfigSchema.partial().safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) throw new CliError(`${path}: invalid config (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
    file = parsed.data;
  }
  const server = opts.server ?? process.env.GEDGE_SERVER ?? file.server;
  const token = opts.token ?? process.env.GEDGE_TOKEN ?? file.token;
  if (!server || !token) throw new CliError(`not logged in: run "gedge login --server URL --token TOKEN --ca-pin sha256:…" (config: ${path})`);
  const caFile = opts.caFile ?? process.env.GEDGE_CA_FILE;
  let ca = file.server === server ? file.ca : undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new CliError(`--ca-file: cannot read ${caFile} (${(err as Error).message})`);
    }
  }
  if (server.startsWith('https:') && !ca) throw new CliError(`no CA pinned for ${server}: run "gedge login --server ${server} --token TOKEN --ca-pin sha256:…" or pass --ca-file`);
  return new ApiClient(server, token, ca);
}

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ApiClient } from '../core/index.ts';
import { CliError } from './errors.ts';

/**
 * The CLI's config (~/.gedge/config, or $GEDGE_CONFIG), as kubectl's
 * kubeconfig: named contexts, each a center with a token and the center's
 * CA (PEM, pinned at login: https:// requests trust it and nothing else),
 * and the current one. A file from before contexts (one server, token and
 * CA) reads as the context "default".
 */
const contextSchema = z.object({ server: z.string().url(), token: z.string().min(1), ca: z.string().optional() });
export type CliContext = z.infer<typeof contextSchema>;
const configSchema = z.object({ current: z.string().optional(), contexts: z.record(z.string(), contextSchema) });
export type CliConfig = z.infer<typeof configSchema>;

export function configPath(): string {
  return process.env.GEDGE_CONFIG ?? join(homedir(), '.gedge', 'config');
}

export function readConfig(): CliConfig {
  const path = configPath();
  if (!existsSync(path)) return { contexts: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`${path}: not JSON (${(err as Error).message})`);
  }
  const old = contextSchema.safeParse(raw);
  if (old.success) return { current: 'default', contexts: { default: old.data } };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new CliError(`${path}: invalid config (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
  return parsed.data;
}

export function writeConfig(cfg: CliConfig): string {
  const file = configPath();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** The config, with the context `name` in it; a name it lacks is refused (`what`: how the user named it). */
export function configWith(name: string, what = 'context'): CliConfig {
  const cfg = readConfig();
  if (!cfg.contexts[name]) throw new CliError(`${what}: no context "${name}" in ${configPath()} (gedge config get-contexts lists them)`);
  return cfg;
}

/** Saves a context (replacing one of the same name) and makes it the current one; returns the file. */
export function saveContext(name: string, ctx: CliContext): string {
  const cfg = readConfig();
  return writeConfig({ current: name, contexts: { ...cfg.contexts, [name]: ctx } });
}

/** A context's default name: the center's host and port, as `gedge config get-contexts` shows it. */
export function contextName(server: string): string {
  return new URL(server).host;
}

/**
 * Flags win over GEDGE_SERVER/GEDGE_TOKEN/GEDGE_CA_FILE, which win over the
 * context (--context, $GEDGE_CONTEXT, else the current one). The CA is the
 * context's only for the server the context names.
 */
export function client(opts: { server?: string; token?: string; caFile?: string; context?: string }): ApiClient {
  const asked = opts.context ?? process.env.GEDGE_CONTEXT;
  const cfg = asked === undefined ? readConfig() : configWith(asked, '--context');
  const path = configPath();
  const name = asked ?? cfg.current;
  const ctx: Partial<CliContext> = name === undefined ? {} : (cfg.contexts[name] ?? {});
  const server = opts.server ?? process.env.GEDGE_SERVER ?? ctx.server;
  const token = opts.token ?? process.env.GEDGE_TOKEN ?? ctx.token;
  if (!server || !token) throw new CliError(`not logged in: run "gedge login --server URL --token TOKEN --ca-pin sha256:…" (config: ${path})`);
  const caFile = opts.caFile ?? process.env.GEDGE_CA_FILE;
  let ca = ctx.server === server ? ctx.ca : undefined;
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

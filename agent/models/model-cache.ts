import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { errorFromBody } from '../../core/index.ts';
import type { WorkloadUser } from '../runtime/runtime.ts';

/** Fetches `bytes=start-` of a project's model file from the center (the node's credentials). */
export type ArtifactFetch = (project: string, digest: string, start: number) => Promise<Response>;

/**
 * Model files on the node, by project and digest
 * (`<data dir>/models/<project>/<sha256>`), fetched from the center over
 * the node's authenticated connection. A download cut off resumes where it
 * stopped (`.partial` and a Range request); a file is used only once its
 * bytes hash to its digest, and a cached file is hashed again once per
 * agent process, so a file damaged on disk is fetched anew. Cached files
 * stay: an instance restarts from them with the center unreachable, and a
 * rollback finds the previous version here. Readable by the project's
 * workload user (its group), not by other projects'.
 */
export class ModelCache {
  private readonly checked = new Set<string>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly fetch: ArtifactFetch,
    private readonly log: Logger,
  ) {}

  /** The local path of the file, fetched and checked first when needed. */
  ensure(project: string, ref: { digest: string; size: number }, user?: WorkloadUser): Promise<string> {
    const key = `${project}/${ref.digest}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.load(project, ref, user).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async load(project: string, ref: { digest: string; size: number }, user?: WorkloadUser): Promise<string> {
    const dir = join(this.dir, project);
    const file = join(dir, ref.digest.slice('sha256:'.length));
    const key = `${project}/${ref.digest}`;
    if (await exists(file)) {
      if (this.checked.has(key)) return file;
      if ((await sha256(file)) === ref.digest) {
        this.checked.add(key);
        return file;
      }
      this.log.warn({ project, digest: ref.digest }, 'a cached model file no longer matches its digest: fetching it again');
      await rm(file, { force: true });
    }
    await mkdir(dir, { recursive: true, mode: 0o710 });
    if (user) {
      await chown(dir, process.getuid?.() ?? 0, user.gid);
      await chmod(dir, 0o710);
    }
    const partial = `${file}.partial`;
    const have = await stat(partial).then((s) => s.size, () => 0);
    const start = have >= ref.size ? 0 : have;
    if (start === 0) await rm(partial, { force: true });
    const res = await this.fetch(project, ref.digest, start);
    if (!res.ok || !res.body) throw errorFromBody(res.status, (await res.json().catch(() => ({}))) as object);
    // 206: the rest after what we have; 200: the whole file (a center that ignored the range).
    const append = res.status === 206 && start > 0;
    this.log.info({ project, digest: ref.digest, size: ref.size, from: append ? start : 0 }, append ? 'resuming a model download' : 'downloading a model');
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(partial, { flags: append ? 'a' : 'w', mode: 0o600 }));
    const got = await sha256(partial);
    if (got !== ref.digest) {
      await rm(partial, { force: true });
      throw new Error(`the model file from the center hashes to ${got}, not ${ref.digest}: discarded`);
    }
    if (user) await chown(partial, process.getuid?.() ?? 0, user.gid);
    await chmod(partial, 0o640);
    await rename(partial, file);
    this.checked.add(key);
    return file;
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

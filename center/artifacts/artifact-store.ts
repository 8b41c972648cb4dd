import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadRequestError, NotFoundError, PayloadTooLargeError, ValidationError, type ModelSignature } from '../../core/index.ts';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { decodeEvalSet, EVAL_SET_MAX_BYTES, EvalSetFormatError, looksLikeEvalSet, type EvalSetFacts } from '../../core/eval-set.ts';
import { onnxSignature } from './onnx-signature.ts';

/** What the center knows of a stored artifact: a model file (ONNX), or a labelled evaluation set (core/eval-set.ts). */
export type ArtifactInfo = {
  digest: string;
  size: number;
  uploadedAt: string;
} & (
  | { kind?: 'model'; /** The model's inputs and outputs, read from the file at upload. */ signature: ModelSignature }
  | { kind: 'eval-set'; evalSet: EvalSetFacts }
);


const gunzipAsync = promisify(gunzip);

/** Reads an upload as what it is: an evaluation set by its magic, else an ONNX model (422 saying why it is neither). */
async function inspect(buf: Buffer): Promise<{ kind: 'model'; signature: ModelSignature } | { kind: 'eval-set'; evalSet: EvalSetFacts }> {
  if (!looksLikeEvalSet(buf)) return { kind: 'model', signature: onnxSignature(buf) };
  try {
    // A gzip-compressed set is unpacked in libuv's pool, not on the event loop, within the decoder's bound.
    const raw = buf[0] === 0x1f && buf[1] === 0x8b ? await gunzipAsync(buf, { maxOutputLength: EVAL_SET_MAX_BYTES }).catch((e: unknown) => Promise.reject(new EvalSetFormatError(`the gzip stream does not unpack within ${EVAL_SET_MAX_BYTES} bytes: ${(e as Error).message}`))) : buf;
    const s = decodeEvalSet(raw);
    return { kind: 'eval-set', evalSet: { input: s.input, dims: s.dims, rows: s.rows, classes: s.classes } };
  } catch (e) {
    if (e instanceof EvalSetFormatError) throw new ValidationError(`the file is not an evaluation set gedge reads: ${e.message}`, { details: [{ path: 'body', message: e.message }] });
    throw e;
  }
}

export interface ArtifactStoreOptions {
  /** The largest artifact accepted (413 past it, counted as the body streams in). */
  maxBytes: number;
}

/**
 * Model artifacts on disk beside the center's database, per project and by
 * content (`<dir>/<project>/<sha256 hex>` and its `.json` facts): a project
 * learns nothing of another's files, not even whether one with a digest
 * exists. An upload streams to a temporary file while its bytes are counted
 * and hashed, and becomes visible only once the digest it was announced
 * with matches and the file reads as an ONNX model; anything else leaves
 * nothing behind. Files are immutable: the same digest is the same bytes.
 * Besides model files, a project keeps its models' labelled evaluation sets
 * here (checked as such at upload).
 */
export class ArtifactStore {
  /** Uploads are read back one at a time to be checked as ONNX: a burst of large uploads holds one file in memory, not one each. */
  private inspecting: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly opts: ArtifactStoreOptions,
  ) {}

  /** Uploads cut off by a crash leave their temporary files: none is in progress when the center starts, so all go. */
  async sweepIncoming(): Promise<number> {
    let removed = 0;
    for (const project of await readdir(this.dir).catch(() => [] as string[])) {
      const incoming = join(this.dir, project, '.incoming');
      for (const f of await readdir(incoming).catch(() => [] as string[])) {
        await rm(join(incoming, f), { force: true });
        removed++;
      }
    }
    return removed;
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** Stores `body` as `digest` of `project`; `created` is false when it was there already (the body is then not read). */
  async put(project: string, digest: string, body: Readable, declaredLength?: number): Promise<{ info: ArtifactInfo; created: boolean }> {
    // A length past the limit is refused before anything else, also for a file that is there (its body is not read).
    if (declaredLength !== undefined && declaredLength > this.opts.maxBytes) {
      body.resume();
      throw tooLarge(this.opts.maxBytes);
    }
    const known = await this.info(project, digest);
    if (known) {
      body.resume();
      return { info: known, created: false };
    }
    const dir = join(this.dir, project);
    await mkdir(join(dir, '.incoming'), { recursive: true, mode: 0o700 });
    const tmp = join(dir, '.incoming', randomBytes(8).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    const max = this.opts.maxBytes;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > max) return done(tooLarge(max));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      try {
        await pipeline(body, count, createWriteStream(tmp, { mode: 0o600 }));
      } catch (e) {
        if (e instanceof PayloadTooLargeError) throw e;
        throw new BadRequestError(`the upload ended early: ${(e as Error).message}`, { details: [{ path: 'body', message: 'incomplete' }] });
      }
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest) {
        throw new ValidationError(`the body's digest is ${got}, not ${digest}: nothing was stored`, { details: [{ path: 'digest', message: `the body hashes to ${got}` }] });
      }
      if (size === 0) throw new ValidationError('the body is empty', { details: [{ path: 'body', message: 'empty' }] });
      const check = this.inspecting.then(async () => inspect(await readFile(tmp)));
      this.inspecting = check.catch(() => undefined);
      const info: ArtifactInfo = { digest, size, ...(await check), uploadedAt: new Date().toISOString() };
      const blob = this.blobPath(project, digest);
      // The facts last: an artifact is there once its facts are (info() reads them), and by then its file is whole.
      await rename(tmp, blob);
      // Each upload writes its facts under its own temporary name: two uploads of one file at once race to the same end, never to one temporary file.
      await writeFile(`${tmp}.json`, JSON.stringify(info), { mode: 0o600 });
      await rename(`${tmp}.json`, `${blob}.json`);
      return { info, created: true };
    } finally {
      await rm(tmp, { force: true });
      await rm(`${tmp}.json`, { force: true });
    }
  }

  async info(project: string, digest: string): Promise<ArtifactInfo | undefined> {
    try {
      return JSON.parse(await readFile(`${this.blobPath(project, digest)}.json`, 'utf8')) as ArtifactInfo;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** The artifact's bytes from `start` to `end` (inclusive; default: to the last), for downloads that resume. */
  async open(project: string, digest: string, range: { start?: number; end?: number } = {}): Promise<{ info: ArtifactInfo; stream: Readable }> {
    const info = await this.info(project, digest);
    if (!info) throw new NotFoundError(`artifact ${digest} not found in project "${project}"`, { details: [{ path: 'digest', message: 'not found' }] });
    return { info, stream: createReadStream(this.blobPath(project, digest), { start: range.start, end: range.end }) };
  }

  /** Removes the artifact; false when it was not there. */
  async delete(project: string, digest: string): Promise<boolean> {
    const blob = this.blobPath(project, digest);
    const there = await stat(`${blob}.json`).then(() => true, () => false);
    await rm(`${blob}.json`, { force: true });
    await rm(blob, { force: true });
    return there;
  }

  private blobPath(project: string, digest: string): string {
    return join(this.dir, project, digest.slice('sha256:'.length));
  }
}

const tooLarge = (max: number) => new PayloadTooLargeError(`an artifact may be at most ${max} bytes`, { details: [{ path: 'body', message: `limit is ${max} bytes (the center's --max-artifact-bytes)` }] });

import { parentPort } from 'node:worker_threads';
import { BadRequestError, GedgeError, parseManifestText, validateResources, type ResourceCheck } from '../../core/index.ts';
import { compileQuery, SqlError } from '../../engine/index.ts';
import type { ManifestJob, ManifestReply } from './manifest-parser.ts';

/**
 * The manifest parser's thread: YAML parsing and schema validation of request
 * bodies, and compiling the SQL of Rules, away from the center's event loop.
 * One job at a time; a job that runs too long is ended by terminating this
 * thread (manifest-parser.ts).
 */

/** A Rule's SQL must compile: refused here with the line and column of the problem, it never reaches an edge. */
const ruleSql: ResourceCheck = (r) => {
  if (r.kind !== 'Rule') return [];
  try {
    compileQuery(r.spec.sql, { tables: Object.keys(r.spec.tables) });
    return [];
  } catch (e) {
    if (!(e instanceof SqlError)) throw e;
    return [{ path: ['spec', 'sql'], message: e.message }];
  }
};

function run(job: ManifestJob): ManifestReply['result'] {
  const docs = parseManifestText(job.text, job.source);
  if (job.mode === 'values') return { values: docs.map((d) => d.value) };
  if (job.mode === 'single' && docs.length !== 1) throw new BadRequestError('expected exactly one object', { details: [{ path: 'body', message: `got ${docs.length}` }] });
  return { resources: validateResources(docs, ruleSql) };
}

parentPort!.on('message', (job: ManifestJob) => {
  let reply: ManifestReply;
  try {
    reply = { id: job.id, result: run(job) };
  } catch (e) {
    const err = e instanceof GedgeError ? e : new BadRequestError(`${job.source}: ${(e as Error).message}`, { details: [{ path: job.source, message: 'cannot be parsed' }] });
    reply = { id: job.id, error: { status: err.status, ...err.toJSON() } };
  }
  parentPort!.postMessage(reply);
});

// Loaded and listening: the parser's time limit runs from here, so a thread slow to start on a busy machine costs no body its turn.
parentPort!.postMessage({ ready: true });

import { GedgeError, parseManifestText, validateResources, type ErrorDetail, type ParsedDoc, type Resource } from '../core/index.ts';

/**
 * `gedge apply -f` over one file or a directory: every document of every
 * file, checked here first (a problem names its file and line, and nothing
 * is sent), then put in dependency order and sent as one apply, which the
 * center writes all or nothing. Problems the center finds (a missing
 * project, a policy, a rule's SQL) come back naming the document's file,
 * field and line.
 */

/** What other objects name goes first: a Service needs its Project, a Device its Site, a DeviceCommand its Device, a Service its Model. Other kinds keep their place after these. */
const ORDER = ['Project', 'PriorityClass', 'Site', 'SiteLink', 'Node', 'Device', 'Model', 'Service', 'Route', 'Rule', 'DeviceCommand'];

export interface BatchDoc {
  resource: Resource;
  doc: ParsedDoc;
}

export function batchOf(files: { source: string; text: string }[]): BatchDoc[] {
  const all: BatchDoc[] = [];
  for (const { source, text } of files) {
    const docs = parseManifestText(text, source);
    const resources = validateResources(docs);
    resources.forEach((resource, i) => all.push({ resource, doc: docs[i]! }));
  }
  const rank = (r: Resource) => {
    const i = ORDER.indexOf(r.kind);
    return i < 0 ? ORDER.length : i;
  };
  return all.map((d, i) => ({ d, i })).sort((a, b) => rank(a.d.resource) - rank(b.d.resource) || a.i - b.i).map((x) => x.d);
}

/** The center's answer to the batch, its details pointing at the documents' files and lines instead of the batch's indexes. */
export function inSources(e: unknown, batch: BatchDoc[]): unknown {
  if (!(e instanceof GedgeError) || !e.details.length) return e;
  const details = e.details.map((d): ErrorDetail => {
    const m = /^\[(\d+)\]\.?(.*)$/.exec(d.path);
    const at = m ? batch[Number(m[1])] : batch.length === 1 ? batch[0] : undefined;
    if (!at) return d;
    const field = m ? m[2]! : d.path;
    const line = at.doc.lineOf(pathOf(field));
    return { path: `${at.doc.source}: ${field || '(document)'}`, message: d.message, ...(line !== undefined ? { line } : d.line !== undefined && batch.length === 1 ? { line: d.line } : {}) };
  });
  const sources = [...new Set(batch.map((d) => d.doc.source))];
  const Ctor = e.constructor as new (message: string, opts: { details: ErrorDetail[] }) => GedgeError;
  return new Ctor(e.message.replace(/^body: /, sources.length === 1 ? `${sources[0]}: ` : ''), { details });
}

/** "spec.actions[1].webhook.url" -> ['spec', 'actions', 1, 'webhook', 'url']. */
function pathOf(field: string): (string | number)[] {
  return field.split('.').flatMap((part) => part.split(/\[(\d+)\]/).filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p)));
}

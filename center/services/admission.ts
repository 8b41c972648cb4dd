import { EgressPolicy, ForbiddenError, REDACTED, ValidationError, lookupKind, modelVersionName, probeSchema, type ErrorDetail, type Model, type ModelSignature, type Project, type Resource, type Service, projectOf } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import type { ArtifactInfo } from '../artifacts/artifact-store.ts';
import { feedProblem, scoredOutputOf } from '../../core/eval-set.ts';

/** What admission needs besides the store: where destinations may be, and the artifacts models name. */
export interface AdmissionContext {
  egress?: EgressPolicy;
  artifacts?: { info(project: string, digest: string): Promise<ArtifactInfo | undefined> };
}

/**
 * Checks that go beyond one object's schema, before anything is written:
 * namespaced objects need an existing project (or one created in the same
 * apply); a command needs its device; a device keeps its site; credentials
 * are only issued by the center (the secret is generated and shown once);
 * a redacted sink password stands for the stored one (core/secrets.ts);
 * a Service keeps to its project's policy (runtimes, images: 403); a
 * Model version names an uploaded artifact, takes its signature from it and
 * never changes its file.
 * Every problem is reported, with its path; nothing is written if any.
 */
export async function admit(store: Store, input: Resource[], ctx: AdmissionContext = {}): Promise<Resource[]> {
  const egress = ctx.egress ?? new EgressPolicy();
  const objs = [...input];
  const inBatch = (kind: string, project: string, name: string) => objs.some((o) => o.kind === kind && projectOf(o) === project && o.metadata.name === name);
  const problems: ErrorDetail[] = [];
  const refused: ErrorDetail[] = [];
  const policyOf = async (project: string) => (objs.find((p): p is Project => p.kind === 'Project' && p.metadata.name === project) ?? (await store.get('Project', undefined, project)))?.spec.policy;
  for (const [i, o] of objs.entries()) {
    const at = (path: string) => `${objs.length > 1 ? `[${i}].` : ''}${path}`;
    const project = projectOf(o);
    if (lookupKind(o.kind)?.namespaced && !objs.some((p) => p.kind === 'Project' && p.metadata.name === project) && !(await store.get('Project', undefined, project))) {
      problems.push({ path: at('metadata.project'), message: `project "${project}" does not exist` });
    }
    switch (o.kind) {
      case 'DeviceCredential':
        problems.push({ path: at('kind'), message: `device credentials are issued by POST /api/v1/devices/${o.spec.device}/credentials?project=${project} (gedge device credentials ${o.spec.device}): the secret is generated there and shown once` });
        break;
      case 'DeviceCommand':
        if (!inBatch('Device', project, o.spec.device) && !(await store.get('Device', project, o.spec.device))) {
          problems.push({ path: at('spec.device'), message: `device "${o.spec.device}" does not exist in project "${project}"` });
        }
        break;
      case 'Device': {
        const prev = await store.get('Device', project, o.metadata.name);
        if (prev && prev.spec.site !== o.spec.site) problems.push({ path: at('spec.site'), message: `is fixed once created ("${prev.spec.site}"); delete the device and create it again to move it` });
        break;
      }
      case 'Service': {
        const policy = await policyOf(project);
        const t = o.spec.template;
        if (policy?.runtimes && !policy.runtimes.includes(t.runtime)) refused.push({ path: at('spec.template.runtime'), message: `project "${project}" may use ${policy.runtimes.join(', ')} (its policy, set by an admin), not ${t.runtime}` });
        if (policy?.images && t.image !== undefined && !policy.images.some((prefix) => t.image!.startsWith(prefix))) {
          refused.push({ path: at('spec.template.image'), message: `project "${project}" may run images from ${policy.images.join(', ')} (its policy), not ${t.image}` });
        }
        if (t.runtime === 'model' && t.model) {
          const model = objs.find((m): m is Model => m.kind === 'Model' && projectOf(m) === project && m.metadata.name === t.model) ?? (await store.get('Model', project, t.model));
          if (!model) {
            problems.push({ path: at('spec.template.model'), message: `no Model "${t.model}" in project "${project}" (gedge get models -p ${project})` });
            break;
          }
          const labels = model.spec.classLabels;
          const artifact = { digest: model.spec.artifact.digest, size: model.spec.artifact.size, model: model.spec.model, version: model.spec.version, ...(labels.length && labels.length <= 1000 ? { classLabels: labels } : {}) };
          // Ready once the model server has loaded and warmed up the model, unless the template says otherwise.
          const readiness = t.readiness ?? probeSchema.parse({ http: { port: t.ports[0]!.name, path: '/v2/health/ready' }, period: '500ms' });
          objs[i] = { ...o, spec: { ...o.spec, template: { ...t, artifact, readiness } } };
        }
        break;
      }
      case 'Rule':
        for (const [k, a] of o.spec.actions.entries()) {
          if ('webhook' in a) destination(egress, a.webhook.url, at(`spec.actions[${k}].webhook.url`), problems);
          if ('infer' in a) {
            const svc = objs.find((x): x is Service => x.kind === 'Service' && projectOf(x) === project && x.metadata.name === a.infer.service) ?? (await store.get('Service', project, a.infer.service));
            if (svc?.spec.template.runtime !== 'model') problems.push({ path: at(`spec.actions[${k}].infer.service`), message: svc ? `Service "${a.infer.service}" does not serve a model (runtime: ${svc.spec.template.runtime})` : `no Service "${a.infer.service}" in project "${project}"` });
          }
        }
        break;
      case 'Route': {
        const sink = o.spec.sink;
        if (sink.type !== 'table') destination(egress, sink.url, at('spec.sink.url'), problems);
        if (sink.type !== 'mqtt' || sink.password !== REDACTED) break;
        const prev = (await store.get('Route', project, o.metadata.name))?.spec.sink;
        if (prev?.type !== 'mqtt' || prev.password === undefined) {
          problems.push({ path: at('spec.sink.password'), message: `"${REDACTED}" stands for the stored password, and route "${o.metadata.name}" has none: give the password` });
        } else if (prev.url !== sink.url || prev.username !== sink.username) {
          problems.push({ path: at('spec.sink.password'), message: `"${REDACTED}" keeps the stored password only for the same url and username: give the password for ${sink.url}` });
        } else {
          objs[i] = { ...o, spec: { ...o.spec, sink: { ...sink, password: prev.password } } };
        }
        break;
      }
      case 'Model': {
        const spec = await admitModel(store, o, ctx, at, problems);
        if (spec) objs[i] = { ...o, spec };
        break;
      }
      default:
        break;
    }
  }
  // What the project's policy forbids is a 403, before any other problem: the user cannot fix it by editing the manifest's form.
  if (refused.length) throw new ForbiddenError(refused.length === 1 ? refused[0]!.message : `${refused.length} things the project's policy forbids`, { details: refused });
  if (problems.length) throw new ValidationError(problems.length === 1 ? problems[0]!.message : `${problems.length} problems`, { details: problems });
  return objs;
}

/** A destination given as an address is checked at apply; a name is checked where it is used, on what it resolves to then. */
function destination(egress: EgressPolicy, url: string, path: string, problems: ErrorDetail[]): void {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  const problem = egress.problem(host);
  if (problem) problems.push({ path, message: problem });
}

/** A model version's labelled evaluation set: uploaded as one, and its rows what the model takes. */
async function admitEvalSet(ref: { digest: string; size: number }, signature: ModelSignature, project: string, ctx: AdmissionContext, at: (path: string) => string, problems: ErrorDetail[]): Promise<void> {
  const path = at('spec.evaluation.artifact.digest');
  const set = await ctx.artifacts?.info(project, ref.digest);
  if (!set) return void problems.push({ path, message: `no artifact ${ref.digest} in project "${project}": upload the evaluation set first (gedge model push --eval-set does both)` });
  if (set.kind !== 'eval-set') return void problems.push({ path, message: `artifact ${ref.digest} is a model file, not an evaluation set` });
  if (set.size !== ref.size) problems.push({ path: at('spec.evaluation.artifact.size'), message: `the evaluation set is ${set.size} bytes` });
  const problem = feedProblem(set.evalSet, signature.inputs, 'the model');
  if (problem) problems.push({ path, message: problem });
  if (!scoredOutputOf(signature.outputs, set.evalSet.classes)) problems.push({ path, message: `the evaluation set has ${set.evalSet.classes} classes; no output of the model gives that many scores` });
}

/** A model version: named `<model>-v<version>`, its artifact uploaded to its project, its signature the artifact's, and, once made, its file and signature fixed. */
async function admitModel(store: Store, o: Model, ctx: AdmissionContext, at: (path: string) => string, problems: ErrorDetail[]): Promise<Model['spec'] | undefined> {
  const project = projectOf(o);
  const spec = o.spec;
  const name = modelVersionName(spec.model, spec.version);
  if (o.metadata.name !== name) problems.push({ path: at('metadata.name'), message: `a model version is named <model>-v<version>: write name: ${name}` });
  const prev = await store.get('Model', project, o.metadata.name);
  if (prev && (prev.spec.artifact.digest !== spec.artifact.digest || prev.spec.model !== spec.model || prev.spec.version !== spec.version)) {
    problems.push({ path: at('spec.artifact.digest'), message: `model version "${o.metadata.name}" is ${prev.spec.artifact.digest} and a version never changes its file: push it as a new version` });
    return undefined;
  }
  const artifact = await ctx.artifacts?.info(project, spec.artifact.digest);
  if (!artifact) {
    problems.push({ path: at('spec.artifact.digest'), message: `no artifact ${spec.artifact.digest} in project "${project}": upload it first (gedge model push does both)` });
    return undefined;
  }
  if (artifact.size !== spec.artifact.size) problems.push({ path: at('spec.artifact.size'), message: `the artifact is ${artifact.size} bytes` });
  if (artifact.kind === 'eval-set') {
    problems.push({ path: at('spec.artifact.digest'), message: `artifact ${spec.artifact.digest} is an evaluation set, not a model file: give it as spec.evaluation.artifact` });
    return undefined;
  }
  if (spec.evaluation) await admitEvalSet(spec.evaluation.artifact, artifact.signature, project, ctx, at, problems);
  for (const side of ['inputs', 'outputs'] as const) {
    const given = spec[side];
    if (given && JSON.stringify(given) !== JSON.stringify(artifact.signature[side])) {
      problems.push({ path: at(`spec.${side}`), message: `the model file's ${side} are ${artifact.signature[side].map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' ')} (omit ${side} to take them from the file)` });
    }
  }
  const outputs = artifact.signature.outputs;
  const classes = outputs.length === 1 ? outputs[0]!.shape.at(-1) : undefined;
  if (spec.classLabels.length && classes !== undefined && classes > 0 && spec.classLabels.length !== classes) {
    problems.push({ path: at('spec.classLabels'), message: `the model answers ${classes} classes; give ${classes} labels or none` });
  }
  return { ...spec, inputs: artifact.signature.inputs, outputs: artifact.signature.outputs };
}

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, ConflictError, ForbiddenError, PayloadTooLargeError, RangeNotSatisfiableError, ValidationError, tlsFetch, type Model } from '../../core/index.ts';
import { encodeEvalSet } from '../../core/eval-set.ts';
import { REPO_ROOT, joinAsNode, removeDir, startCenterProcess, tinyClassifier, type CenterHandle } from '../../testkit/index.ts';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MAX = 64 * 1024;

/**
 * The model registry (issue 19, part 1): ONNX files uploaded under their
 * sha256 to the project's artifact store, checked as they stream in, and
 * Model objects, one per version, that name them. Real files that ONNX
 * Runtime loads, a real center process, the real CLI.
 */
describe('models and their artifacts', () => {
  let c: CenterHandle;
  let user: ApiClient;
  let outsider: ApiClient;
  const dir = mkdtempSync(join(tmpdir(), 'gedge-models-'));
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

  before(async () => {
    c = await startCenterProcess({ args: ['--max-artifact-bytes', String(MAX)] });
    await c.api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: vision }\n---\napiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: other }\n');
    user = new ApiClient(c.url, (await c.api.createToken({ kind: 'user', projects: ['vision'] })).token, c.ca);
    outsider = new ApiClient(c.url, (await c.api.createToken({ kind: 'user', projects: ['other'] })).token, c.ca);
  });
  after(async () => {
    await c?.process.stop();
    if (c) removeDir(c.dataDir);
    removeDir(dir);
  });

  const incoming = () => {
    try {
      return readdirSync(join(c.dataDir, 'artifacts', 'vision', '.incoming'));
    } catch {
      return [];
    }
  };

  test('gedge model push uploads an ONNX file and numbers its versions; the signature is read from the file; gedge get models lists them', () => {
    const v1 = join(dir, 'tiny.onnx');
    writeFileSync(v1, tinyClassifier({ seed: 1 }));
    writeFileSync(join(dir, 'labels.txt'), 'cat\ndog\nbird\n');
    let r = cli('model', 'push', v1, '-p', 'vision', '--class-labels', join(dir, 'labels.txt'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /model\/tiny-v1 created \(tiny version 1, sha256:[0-9a-f]{64}, \d+ bytes\)/);
    const v2 = join(dir, 'tiny-2.onnx');
    writeFileSync(v2, tinyClassifier({ seed: 2, features: 6 }));
    r = cli('model', 'push', v2, '--name', 'tiny', '-p', 'vision');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /model\/tiny-v2 created \(tiny version 2/);

    r = cli('get', 'models', '-p', 'vision', '-l', 'gedge.io/model=tiny');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n');
    assert.match(rows[0]!, /^NAME\s+MODEL\s+VERSION\s+FORMAT\s+SIZE\s+INPUTS\s+AGE/);
    assert.match(rows[1]!, /^tiny-v1\s+tiny\s+1\s+onnx\s+\d+B\s+x:FP32\[-1,4\]/);
    assert.match(rows[2]!, /^tiny-v2\s+tiny\s+2\s+onnx\s+\d+B\s+x:FP32\[-1,6\]/);
    r = cli('get', 'model', 'tiny-v1', '-p', 'vision', '-o', 'json');
    const m = JSON.parse(r.stdout) as Model;
    assert.deepEqual(m.spec.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }]);
    assert.deepEqual(m.spec.outputs, [{ name: 'probs', datatype: 'FP32', shape: [-1, 3] }]);
    assert.deepEqual(m.spec.classLabels, ['cat', 'dog', 'bird']);
    assert.equal(m.spec.artifact.digest, digestOf(tinyClassifier({ seed: 1 })));
  });

  test('an upload whose bytes do not hash to its digest is refused and leaves nothing behind', async () => {
    const file = tinyClassifier({ seed: 3 });
    const claimed = digestOf(tinyClassifier({ seed: 4 }));
    const err = await user.uploadArtifact('vision', claimed, file, file.length).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError, String(err));
    assert.match(err.message, new RegExp(`the body's digest is ${digestOf(file)}, not ${claimed}: nothing was stored`));
    assert.equal(await user.hasArtifact('vision', claimed), false);
    assert.equal(await user.hasArtifact('vision', digestOf(file)), false);
    assert.deepEqual(incoming(), []);
  });

  test('a file past --max-artifact-bytes is refused with 413, whether it says its length or streams without one', async () => {
    const big = Buffer.alloc(MAX + 1, 7);
    const said = await user.uploadArtifact('vision', digestOf(big), big, big.length).catch((e: unknown) => e);
    assert.ok(said instanceof PayloadTooLargeError, String(said));
    // No length up front: the center counts as the bytes arrive and stops at the limit.
    const chunks = [big.subarray(0, 40_000), big.subarray(40_000)];
    const stream = new ReadableStream<Uint8Array>({ pull: (ctl) => void (chunks.length ? ctl.enqueue(chunks.shift()!) : ctl.close()) });
    const res = await user.raw('PUT', `/api/v1/artifacts/${digestOf(big)}?project=vision`, stream, 'application/octet-stream');
    assert.equal(res.status, 413, await res.text());
    assert.equal(await user.hasArtifact('vision', digestOf(big)), false);
    assert.deepEqual(incoming(), []);
  });

  test('a file that is not an ONNX model is refused saying why', async () => {
    const junk = Buffer.from('this is a text file, not a model\n');
    const err = await user.uploadArtifact('vision', digestOf(junk), junk, junk.length).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError, String(err));
    assert.match(err.message, /^not an ONNX model: /);
    assert.equal(await user.hasArtifact('vision', digestOf(junk)), false);
  });

  test('a Model needs its artifact uploaded, named <model>-v<version>, and with the file signature it claims', async () => {
    const file = tinyClassifier({ seed: 5 });
    const model = (o: { name?: string; digest?: string; inputs?: unknown; classLabels?: string[] }) =>
      JSON.stringify({
        apiVersion: 'gedge.io/v1',
        kind: 'Model',
        metadata: { name: o.name ?? 'five-v1', project: 'vision' },
        spec: { model: 'five', version: 1, artifact: { digest: o.digest ?? digestOf(file), size: file.length }, ...(o.inputs ? { inputs: o.inputs } : {}), ...(o.classLabels ? { classLabels: o.classLabels } : {}) },
      });
    let err = await user.apply(model({})).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError && /no artifact sha256:[0-9a-f]+ in project "vision": upload it first/.test(err.message), String(err));
    assert.equal((await user.uploadArtifact('vision', digestOf(file), file, file.length)).size, file.length);
    err = await user.apply(model({ name: 'five' })).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError && /write name: five-v1/.test(err.message), String(err));
    err = await user.apply(model({ inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 4] }] })).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError && /the model file's inputs are x:FP32\[-1,4\]/.test(err.message), String(err));
    err = await user.apply(model({ classLabels: ['one', 'two'] })).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError && /answers 3 classes; give 3 labels or none/.test(err.message), String(err));
    assert.equal((await user.list('Model', { project: 'vision', selector: '' })).items.filter((m) => m.metadata.name.startsWith('five')).length, 0, 'refusals wrote nothing');
    assert.equal((await user.apply(model({})))[0]?.action, 'created');
  });

  test('a labelled evaluation set is checked at upload, must feed the model it ships with, and stays while a version names it', async () => {
    const file = tinyClassifier({ seed: 8 });
    const set = (dims: number[], classes = 3, input = 'x') => encodeEvalSet({ input, dims, rows: 2, classes, values: new Float32Array(2 * dims.reduce((a, b) => a * b, 1)), labels: Int32Array.from([0, classes - 1]) });
    const [good, wide, named] = [set([4]), set([5]), set([4], 3, 'image')];
    const broken = Buffer.concat([good.subarray(0, good.length - 4), Buffer.from([9, 0, 0, 0])]);
    const err = await user.uploadArtifact('vision', digestOf(broken), broken, broken.length).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError && /not an evaluation set gedge reads: row 1's label 9 is not a class from 0 to 2/.test(err.message), String(err));
    for (const b of [file, wide, named]) await user.uploadArtifact('vision', digestOf(b), b, b.length);
    const facts = await user.uploadArtifact('vision', digestOf(good), good, good.length);
    assert.deepEqual([facts.kind, facts.evalSet], ['eval-set', { input: 'x', dims: [4], rows: 2, classes: 3 }]);

    const model = (artifact: Buffer, evalSet?: Buffer) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Model', metadata: { name: 'eight-v1', project: 'vision' }, spec: { model: 'eight', version: 1, artifact: { digest: digestOf(artifact), size: artifact.length }, ...(evalSet ? { evaluation: { artifact: { digest: digestOf(evalSet), size: evalSet.length } } } : {}) } });
    const refused = async (body: string, why: RegExp) => {
      const e = await user.apply(body).catch((x: unknown) => x);
      assert.ok(e instanceof ValidationError && why.test(e.message), String(e));
    };
    await refused(model(good), /is an evaluation set, not a model file/);
    await refused(model(file, file), /is a model file, not an evaluation set/);
    await refused(model(file, wide), /rows feed "x" FP32\[5\]; the model takes x:FP32\[-1,4\]/);
    await refused(model(file, named), /rows feed "image" FP32\[4\]/);
    assert.equal((await user.apply(model(file, good)))[0]?.action, 'created');
    const inUse = await user.deleteArtifact('vision', digestOf(good)).catch((e: unknown) => e);
    assert.ok(inUse instanceof ConflictError && /is the file of Model "eight-v1"/.test(inUse.message), String(inUse));
  });

  test('a version never changes its file, and a file a version uses cannot be deleted until the version is', async () => {
    const v1 = await user.get<Model>('Model', 'tiny-v1', 'vision');
    const other = digestOf(tinyClassifier({ seed: 2, features: 6 }));
    const err = await user.apply(JSON.stringify({ ...v1, spec: { ...v1.spec, artifact: { ...v1.spec.artifact, digest: other } } })).catch((e: unknown) => e);
    assert.ok(err instanceof ValidationError && /never changes its file: push it as a new version/.test(err.message), String(err));
    // Its description may change.
    assert.equal((await user.apply(JSON.stringify({ ...v1, spec: { ...v1.spec, description: 'first cut' } })))[0]?.action, 'configured');

    const used = await user.deleteArtifact('vision', v1.spec.artifact.digest).catch((e: unknown) => e);
    assert.ok(used instanceof ConflictError && /is the file of Model "tiny-v1"/.test(used.message), String(used));
    assert.equal(await user.hasArtifact('vision', v1.spec.artifact.digest), true);
    await user.delete('Model', 'tiny-v1', 'vision');
    assert.deepEqual(await user.deleteArtifact('vision', v1.spec.artifact.digest), { deleted: true });
    assert.equal(await user.hasArtifact('vision', v1.spec.artifact.digest), false);
  });

  test('a download resumes from where it stopped (Range), and the bytes are the file; past the end is a 416', async () => {
    const file = tinyClassifier({ seed: 2, features: 6 });
    const digest = digestOf(file);
    const whole = Buffer.from(await (await user.downloadArtifact('vision', digest)).arrayBuffer());
    assert.ok(whole.equals(file));
    const half = Math.floor(file.length / 2);
    const rest = await user.downloadArtifact('vision', digest, { start: half });
    assert.equal(rest.status, 206);
    assert.equal(rest.headers.get('content-range'), `bytes ${half}-${file.length - 1}/${file.length}`);
    assert.ok(Buffer.concat([file.subarray(0, half), Buffer.from(await rest.arrayBuffer())]).equals(file));
    const past = await user.downloadArtifact('vision', digest, { start: file.length }).catch((e: unknown) => e);
    assert.ok(past instanceof RangeNotSatisfiableError, String(past));
  });

  test("another project's token can neither upload nor read a project's files, nor learn whether one exists", async () => {
    const file = tinyClassifier({ seed: 2, features: 6 });
    const digest = digestOf(file);
    for (const attempt of [() => outsider.hasArtifact('vision', digest), () => outsider.downloadArtifact('vision', digest), () => outsider.uploadArtifact('vision', digest, file, file.length), () => outsider.deleteArtifact('vision', digest)]) {
      const err = await attempt().catch((e: unknown) => e);
      assert.ok(err instanceof ForbiddenError || (err as { status?: number }).status === 403, String(err));
    }
    // The same file is its own in each project: other's copy is not vision's.
    assert.equal(await outsider.hasArtifact('other', digest), false);
  });

  test("a node gets only the model files its own instances serve; a user's token cannot use the nodes' route", async () => {
    const digest = digestOf(tinyClassifier({ seed: 2, features: 6 }));
    await c.api.apply('apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: site-x }\nspec: { tier: edge }\n');
    const node = await joinAsNode({ url: c.url, ca: c.ca, adminToken: c.adminToken }, 'node-x', 'site-x');
    const asNode = await tlsFetch(node.tls)(new URL(`/api/v1/node/artifacts/${digest}?project=vision`, c.url), { headers: { authorization: `Bearer ${node.credential}` } });
    assert.equal(asNode.status, 403);
    assert.match(((await asNode.json()) as { message: string }).message, /node "node-x" runs no instance of project "vision" that serves sha256:/);
    const asUser = await user.raw('GET', `/api/v1/node/artifacts/${digest}?project=vision`);
    assert.equal(asUser.status, 403);
  });

  test('malformed digests and project names are refused before anything is touched', async () => {
    for (const digest of ['sha256:abc', 'md5:0123', 'sha256:' + 'A'.repeat(64), '..%2F..%2Fcenter.db']) {
      const res = await c.api.raw('PUT', `/api/v1/artifacts/${digest}?project=vision`, Buffer.from('x'), 'application/octet-stream');
      assert.equal(res.status, 422, `${digest}: ${res.status}`);
      assert.match(((await res.json()) as { message: string }).message, /is not a digest/);
    }
    const res = await c.api.raw('GET', `/api/v1/artifacts/${digestOf(Buffer.from('x'))}?project=${encodeURIComponent('../x')}`);
    assert.ok([404, 422].includes(res.status), String(res.status));
  });
});

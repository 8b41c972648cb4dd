import type { Readable } from 'node:stream';
import { ConflictError, DIGEST_PATTERN, ForbiddenError, NotFoundError, ValidationError, nameSchema, type Instance, type Model } from '../../core/index.ts';
import { assertMayWrite, assertProject, type Caller } from '../auth/access.ts';
import type { ArtifactInfo, ArtifactStore } from '../artifacts/artifact-store.ts';
import type { Store } from '../store/store.ts';

/**
 * Model artifacts for a caller, apart from HTTP: upload (a project's
 * writer), facts and download (its readers), and delete, refused while a
 * model version names the artifact. The project and digest are checked
 * before anything touches the disk.
 */
export class ModelArtifacts {
  constructor(
    private readonly store: Store,
    private readonly artifacts: ArtifactStore,
  ) {}

  get maxBytes(): number {
    return this.artifacts.maxBytes;
  }

  async upload(caller: Caller | undefined, project: string, digest: string, body: Readable, declaredLength?: number): Promise<{ info: ArtifactInfo; created: boolean }> {
    checkAddress(project, digest);
    assertMayWrite(caller, [{ kind: 'Model', metadata: { project, name: 'artifact' } } as Model]);
    if (!(await this.store.get('Project', undefined, project))) {
      body.resume();
      throw new ValidationError(`project "${project}" does not exist`, { details: [{ path: 'project', message: 'not found' }] });
    }
    return this.artifacts.put(project, digest, body, declaredLength);
  }

  /** The artifact's facts (size, signature), or NotFound. */
  async facts(caller: Caller | undefined, project: string, digest: string): Promise<ArtifactInfo> {
    checkAddress(project, digest);
    assertProject(caller, project);
    const info = await this.artifacts.info(project, digest);
    if (!info) throw new NotFoundError(`artifact ${digest} not found in project "${project}"`, { details: [{ path: 'digest', message: 'not found' }] });
    return info;
  }

  async download(caller: Caller | undefined, project: string, digest: string, range?: { start?: number; end?: number }) {
    checkAddress(project, digest);
    assertProject(caller, project);
    return this.artifacts.open(project, digest, range);
  }

  /**
   * A node's download of a model file: only one that an instance placed on
   * that node serves (a node learns nothing of other files, not even
   * whether they exist).
   */
  async forNode(node: string, project: string, digest: string, range?: { start?: number; end?: number }) {
    await this.assertServes(node, project, digest);
    return this.artifacts.open(project, digest, range);
  }

  /** The facts of a file a node may download (its size, for the range). */
  async factsForNode(node: string, project: string, digest: string): Promise<ArtifactInfo> {
    await this.assertServes(node, project, digest);
    const info = await this.artifacts.info(project, digest);
    if (!info) throw new NotFoundError(`artifact ${digest} not found in project "${project}"`, { details: [{ path: 'digest', message: 'not found' }] });
    return info;
  }

  private async assertServes(node: string, project: string, digest: string): Promise<void> {
    checkAddress(project, digest);
    // Its instances' model files, and for a gated rollout's new instance the version it is measured against and its evaluation set.
    const uses = (i: Instance) => i.spec.template.artifact?.digest === digest || i.spec.evaluation?.baseline.digest === digest || i.spec.evaluation?.evalSet?.digest === digest;
    const serves = (await this.store.list('Instance', { project })).items.some((i) => i.spec.node === node && uses(i));
    if (!serves) throw new ForbiddenError(`node "${node}" runs no instance of project "${project}" that serves ${digest}`, { details: [{ path: 'digest', message: 'not served on this node' }] });
  }

  /** Removes the artifact unless a model version of the project names it (409, naming them). */
  async delete(caller: Caller | undefined, project: string, digest: string): Promise<{ deleted: boolean }> {
    checkAddress(project, digest);
    assertMayWrite(caller, [{ kind: 'Model', metadata: { project, name: 'artifact' } } as Model]);
    const users = (await this.store.list('Model', { project })).items.filter((m) => m.spec.artifact.digest === digest || m.spec.evaluation?.artifact.digest === digest).map((m) => m.metadata.name);
    if (users.length) {
      throw new ConflictError(`artifact ${digest} is the file of ${users.map((u) => `Model "${u}"`).join(', ')}: delete ${users.length > 1 ? 'those versions' : 'that version'} first`, { details: users.map((u) => ({ path: 'digest', message: `used by Model ${u}` })) });
    }
    return { deleted: await this.artifacts.delete(project, digest) };
  }
}

function checkAddress(project: string, digest: string): void {
  if (!nameSchema.safeParse(project).success) throw new ValidationError(`"${project}" is not a project name`, { details: [{ path: 'project', message: 'must be a lowercase DNS label' }] });
  if (!DIGEST_PATTERN.test(digest)) throw new ValidationError(`"${digest.slice(0, 80)}" is not a digest`, { details: [{ path: 'digest', message: 'must be sha256:<64 lowercase hex digits>' }] });
}

import { chown, chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalState } from './local-state.ts';
import type { WorkloadUser } from './runtime/runtime.ts';

/** Where per-project user ids start: far above any account a distribution creates, and below the 2^31 some tools choke on. */
export const FIRST_WORKLOAD_UID = 200_000;
/** Where the projects' subordinate ranges start: above the 100000+ ranges `useradd` writes to /etc/subuid for rootless users. */
export const FIRST_SUBORDINATE_ID = 1_000_000_000;
/** Ids a container's namespace maps besides its root (1..65535: every id an image uses). */
export const SUBORDINATE_IDS = 65_535;
/** Projects a node can give a range of their own without passing 2^31 (about 16,000). */
export const MAX_PROJECT_RANGES = Math.floor((2 ** 31 - FIRST_SUBORDINATE_ID) / (SUBORDINATE_IDS + 1));

/** The host ids a project's containers map their ids 1..65535 to: a range of its own, disjoint from every other project's. */
export function subordinateIds(uid: number): { first: number; count: number } {
  const index = uid - FIRST_WORKLOAD_UID;
  if (index < 0 || index >= MAX_PROJECT_RANGES) throw new RangeError(`workload uid ${uid} has no subordinate range (${MAX_PROJECT_RANGES} projects per node at most)`);
  return { first: FIRST_SUBORDINATE_ID + index * (SUBORDINATE_IDS + 1), count: SUBORDINATE_IDS };
}

/**
 * Process workloads run as an unprivileged user of their project (as
 * Kubernetes' restricted Pod Security runs them as non-root): one user id per
 * project on this node, allocated once and kept in local state, with no
 * account behind it. Such a user cannot read the agent's data (0700/0600,
 * owned by the agent), another project's volumes or home, or the admin token
 * of `gedge up`. Each project gets a home (its HOME) and owns its volumes.
 * Its containers run in a user namespace whose root is that user, and whose
 * other ids map to a range of host ids that belongs to the project alone
 * (subordinateIds).
 *
 * An agent that is not root cannot switch users: its workloads then run as
 * the agent's own user, and `isolating` says so.
 */
export class WorkloadUsers {
  private readonly cache = new Map<string, WorkloadUser>();
  /** Allocations one at a time: two projects must never read the same next id. */
  private tail: Promise<unknown> = Promise.resolve();
  readonly isolating = process.getuid?.() === 0;

  constructor(
    private readonly state: LocalState,
    private readonly dataDir: string,
  ) {}

  /** The project's user, allocated on first use; undefined when the agent cannot switch users. */
  async of(project: string): Promise<WorkloadUser | undefined> {
    if (!this.isolating) return undefined;
    const run = this.tail.then(() => this.allocate(project));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async allocate(project: string): Promise<WorkloadUser> {
    const known = this.cache.get(project);
    if (known) return known;
    let uid = Number(await this.state.meta(`workload-uid:${project}`));
    if (!Number.isInteger(uid) || uid < FIRST_WORKLOAD_UID) {
      uid = Number((await this.state.meta('workload-uid-next')) ?? FIRST_WORKLOAD_UID);
      await this.state.setMeta('workload-uid-next', String(uid + 1));
      await this.state.setMeta(`workload-uid:${project}`, String(uid));
    }
    const user = { uid, gid: uid, home: join(this.dataDir, 'homes', project), subordinate: subordinateIds(uid) };
    await this.ownDir(user.home, user);
    this.cache.set(project, user);
    return user;
  }

  /** Makes `dir` (and any missing parents) and gives it to `user`, private (0700); the agent's own directories above it stay the agent's. */
  async ownDir(dir: string, user: WorkloadUser | undefined): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (!user) return;
    await chown(dir, user.uid, user.gid);
    await chmod(dir, 0o700);
  }
}

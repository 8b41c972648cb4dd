import { chown, chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalState } from './local-state.ts';
import type { WorkloadUser } from './runtime/runtime.ts';

/** Where per-project user ids start: far above any account a distribution creates, and below the 2^31 some tools choke on. */
export const FIRST_WORKLOAD_UID = 200_000;

/**
 * Process workloads run as an unprivileged user of their project (as
 * Kubernetes' restricted Pod Security runs them as non-root): one user id per
 * project on this node, allocated once and kept in local state, with no
 * account behind it. Such a user cannot read the agent's data (0700/0600,
 * owned by the agent), another project's volumes or home, or the admin token
 * of `gedge up`. Each project gets a home (its HOME) and owns its volumes.
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
    const user = { uid, gid: uid, home: join(this.dataDir, 'homes', project) };
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

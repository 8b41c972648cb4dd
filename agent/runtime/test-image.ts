import { spawn, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { lastLine, Podman } from './podman.ts';

/**
 * A tiny local image for tests and benchmarks, built without any registry:
 * the host's node binary at its own absolute path (so `process.execPath`
 * works inside the container as outside), the shared libraries it needs, and
 * busybox as /bin/sh, sleep, cat and the rest. Built once per node version
 * (podman's image store is machine-wide), in about 3 s.
 */

export function testImageName(): string {
  return `localhost/gedge-node:${process.versions.node}`;
}

/** Builds the image unless it exists; returns its name. */
export async function ensureTestImage(podman = new Podman(join(tmpdir(), 'gedge-podman'))): Promise<string> {
  const name = testImageName();
  if ((await podman.run(['image', 'exists', name])).code === 0) return name;
  const root = await mkdtemp(join(tmpdir(), 'gedge-image-'));
  try {
    await buildRootfs(root);
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = await podman.run(['import', '--change', 'CMD ["/bin/sh"]', '-', name], tar.stdout);
    if (r.code !== 0) throw new Error(`podman import failed (exit ${r.code}): ${lastLine(r.stderr)}`);
    return name;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function buildRootfs(root: string): Promise<void> {
  const busybox = which('busybox');
  if (!busybox) throw new Error('busybox is missing (scripts/ensure-podman.sh installs busybox-static)');
  for (const dir of ['bin', 'usr/bin', 'sbin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root']) await mkdir(join(root, dir), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await copyInto(root, process.execPath);
  await copyInto(root, busybox, '/bin/busybox');
  for (const lib of new Set([...sharedLibraries(process.execPath), ...sharedLibraries(busybox)])) await copyInto(root, lib);
  const applets = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const applet of applets) {
    if (applet === 'bin/busybox') continue;
    await mkdir(join(root, dirname(applet)), { recursive: true });
    await symlink('/bin/busybox', join(root, applet)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err; // e.g. usr/bin/node is the real one
    });
  }
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** Copies a host file (following links) to the same path, or `to`, under root. */
async function copyInto(root: string, from: string, to = from): Promise<void> {
  await mkdir(join(root, dirname(to)), { recursive: true });
  await copyFile(from, join(root, to));
  await chmod(join(root, to), 0o755);
}

/** Absolute paths `ldd` names, the dynamic loader included; none for a static binary. */
function sharedLibraries(binary: string): string[] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return [...r.stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

/** An image whose default command is `cmd`, derived from `base` without a registry (podman create + commit). */
export async function deriveImage(podman: Podman, base: string, tag: string, cmd: string[]): Promise<string> {
  const ctr = (await podman.check(['create', base, '/bin/true'])).trim();
  try {
    await podman.check(['commit', '-q', '--change', `CMD ${JSON.stringify(cmd)}`, ctr, tag]);
  } finally {
    await podman.run(['rm', '-f', ctr]);
  }
  return tag;
}

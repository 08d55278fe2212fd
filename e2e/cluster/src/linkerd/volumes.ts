// Kubelet-style atomic volume writes: each update lands in a fresh `..<timestamp>` directory and
// the `..data` symlink is swapped with a rename, exactly the change Linkerd's fsnotify watcher sees.
import { existsSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

let sequence = 0;

export function writeAtomicVolume(dir: string, files: Record<string, string | Buffer>): void {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}_${process.pid}_${++sequence}`;
  const target = path.join(dir, stamp);
  mkdirSync(target);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(target, name), content, { mode: 0o600 });
  const previous = existsSync(path.join(dir, '..data')) ? readlinkSync(path.join(dir, '..data')) : undefined;
  const tmpLink = path.join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    const link = path.join(dir, name);
    if (!existsSync(link)) symlinkSync(path.join('..data', name), link);
  }
  if (previous && previous !== stamp) rmSync(path.join(dir, previous), { recursive: true, force: true });
  // Files that disappeared from the source stop resolving; drop their dangling links.
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith('..') && !(entry in files)) rmSync(path.join(dir, entry), { force: true });
  }
}

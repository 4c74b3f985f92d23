// `serve` started as root: bind the sockets, then become an unprivileged user for good.
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/*
 * `user` in the config (top level):
 *
 * | value          | started as root                                          | started as anyone else |
 * |----------------|----------------------------------------------------------|------------------------|
 * | auto (default) | becomes `roamdns` if /etc/passwd has it, else `nobody`;  | nothing to do          |
 * |                | stays root with a warning saying why if that account     |                        |
 * |                | could not read the zones (reloads need them)             |                        |
 * | NAME[:GROUP]   | becomes NAME (its primary group, or GROUP); refuses to   | nothing to do          |
 * |                | start if NAME could not read the zones                   |                        |
 * | root           | stays root, with a warning                               | nothing to do          |
 *
 * "Could read" is judged from the mode bits of each path and its parent folders (ACLs are not
 * read) before switching, and checked again with access(2) after. Order: setgroups (the target
 * group only), setgid, setuid; then root must not be regainable. Nothing after start-up needs
 * root: the sockets are bound, the status token was read, SIGHUP only rereads the zones.
 */

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

export class PrivilegeError extends Error {
  readonly code = 'EPRIVILEGE';
  constructor(message: string) {
    super(message);
    this.name = 'PrivilegeError';
  }
}

/** The entries of an /etc/passwd or /etc/group text: name → [id, primary gid (passwd only)]. */
export function parseIdFile(text: string): Map<string, { id: number; gid?: number }> {
  const out = new Map<string, { id: number; gid?: number }>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || line.startsWith('#')) continue;
    const id = Number(f[2]);
    if (!Number.isInteger(id) || id < 0) continue;
    const gid = f.length >= 4 && f[3] !== '' ? Number(f[3]) : undefined;
    out.set(f[0]!, { id, gid: Number.isInteger(gid) ? gid : undefined });
  }
  return out;
}

export interface IdFiles {
  passwd: string;
  group: string;
}

const readIdFiles = (): IdFiles => ({
  passwd: safeRead('/etc/passwd'),
  group: safeRead('/etc/group'),
});

function safeRead(file: string): string {
  try { return readFileSync(file, 'utf8'); } catch { return ''; }
}

/** The account `user` names ('auto', 'NAME', 'NAME:GROUP'; numeric ids allowed), or undefined for 'root'. */
export function resolveAccount(spec: string, files: IdFiles = readIdFiles()): Account | undefined {
  if (spec === 'root') return undefined;
  const users = parseIdFile(files.passwd);
  const groups = parseIdFile(files.group);
  const [userPart, groupPart] = spec === 'auto' ? [users.has('roamdns') ? 'roamdns' : 'nobody', undefined] : spec.split(':', 2);
  const byName = users.get(userPart!);
  const numeric = /^\d+$/.test(userPart!) ? Number(userPart) : undefined;
  if (!byName && numeric === undefined) {
    throw new PrivilegeError(`user: no account "${userPart}" in /etc/passwd (create it, e.g. useradd --system --no-create-home roamdns, or name another)`);
  }
  const uid = byName?.id ?? numeric!;
  if (uid === 0) throw new PrivilegeError(`user: "${spec}" is root; write user: root to keep root on purpose`);
  let gid = byName?.gid;
  if (groupPart !== undefined) {
    gid = groups.get(groupPart)?.id ?? (/^\d+$/.test(groupPart) ? Number(groupPart) : undefined);
    if (gid === undefined) throw new PrivilegeError(`user: no group "${groupPart}" in /etc/group`);
  }
  if (gid === undefined) throw new PrivilegeError(`user: "${userPart}" has no primary group; write user: ${userPart}:GROUP`);
  return { name: byName ? userPart! : `uid ${uid}`, uid, gid };
}

export type DropOutcome =
  | { kind: 'not-root' }
  | { kind: 'kept-root'; reason: string }
  | { kind: 'dropped'; account: Account };

/** Whether `account` could read `p` (and list it, for a folder) by the mode bits of it and its parents. */
export function couldRead(account: Account, p: string): boolean {
  const abs = path.resolve(p);
  const may = (st: { mode: number; uid: number; gid: number }, bits: number): boolean => {
    const shift = st.uid === account.uid ? 6 : st.gid === account.gid ? 3 : 0;
    return ((st.mode >> shift) & bits) === bits;
  };
  try {
    for (let dir = path.dirname(abs); ; dir = path.dirname(dir)) {
      if (!may(statSync(dir), 1)) return false;
      if (dir === path.dirname(dir)) break;
    }
    const st = statSync(abs);
    return may(st, st.isDirectory() ? 5 : 4);
  } catch {
    return false;
  }
}

/**
 * Becomes `spec`'s account when running as root (see the table above); `mustRead` are paths
 * the process still has to read afterwards. Throws PrivilegeError with what to fix.
 */
export function dropPrivileges(spec: string, mustRead: readonly string[], files?: IdFiles): DropOutcome {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { kind: 'not-root' };
  const account = resolveAccount(spec, files);
  if (!account) return { kind: 'kept-root', reason: 'user: root' };
  const paths = mustRead.flatMap(withFolderEntries); // listed while still root
  const unreadable = paths.find((p) => !couldRead(account, p));
  if (unreadable !== undefined) {
    const why = `${account.name} (uid ${account.uid}) could not read ${unreadable}, which reloads need`;
    if (spec === 'auto') return { kind: 'kept-root', reason: `${why}; make it readable (chmod o+rX) or set user: to an account that can` };
    throw new PrivilegeError(`user: ${why}: make it readable (chmod o+rX, or chgrp ${account.gid} and g+rX)`);
  }
  process.setgroups!([account.gid]);
  process.setgid!(account.gid);
  process.setuid!(account.uid);
  let regained = false;
  try { process.setuid!(0); regained = true; } catch { /* expected: EPERM */ }
  if (regained || process.getuid() !== account.uid || process.geteuid!() !== account.uid || process.getegid!() !== account.gid) {
    throw new PrivilegeError(`user: switching to ${account.name} (uid ${account.uid}) did not hold`);
  }
  for (const p of paths) {
    try {
      accessSync(p, isDir(p) ? constants.R_OK | constants.X_OK : constants.R_OK);
    } catch {
      throw new PrivilegeError(`user: ${account.name} (uid ${account.uid}) cannot read ${p}, which reloads need: make it readable (chmod o+rX, or chgrp ${account.gid} and g+rX)`);
    }
  }
  return { kind: 'dropped', account };
}

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/** A folder and the files in it (read as root, before the switch); a file as itself. */
function withFolderEntries(p: string): string[] {
  if (!isDir(p)) return [p];
  try { return [p, ...readdirSync(p).map((f) => path.join(p, f))]; } catch { return [p]; }
}

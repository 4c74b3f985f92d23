// cli/privileges.ts without root: account resolution from passwd/group texts and the mode-bit reading check.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { couldRead, parseIdFile, PrivilegeError, resolveAccount } from '../../cli/privileges.js';

const FILES = {
  passwd: ['root:x:0:0:root:/root:/bin/bash', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin', 'roamdns:x:998:997::/var/lib/roamdns:/usr/sbin/nologin', '# comment', 'broken', ''].join('\n'),
  group: ['root:x:0:', 'nogroup:x:65534:', 'roamdns:x:997:', 'dns:x:53:'].join('\n'),
};

describe('privileges', () => {
  test('parses passwd and group, skipping junk', () => {
    expect(parseIdFile(FILES.passwd).get('roamdns')).toEqual({ id: 998, gid: 997 });
    expect(parseIdFile(FILES.passwd).has('broken')).toBe(false);
    expect(parseIdFile(FILES.group).get('dns')).toEqual({ id: 53, gid: undefined });
  });

  test('auto is roamdns when the account exists, nobody otherwise; names, groups and numbers resolve', () => {
    expect(resolveAccount('auto', FILES)).toEqual({ name: 'roamdns', uid: 998, gid: 997 });
    expect(resolveAccount('auto', { ...FILES, passwd: FILES.passwd.replace(/^roamdns.*$/m, '') })).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(resolveAccount('roamdns:dns', FILES)).toEqual({ name: 'roamdns', uid: 998, gid: 53 });
    expect(resolveAccount('1234:53', FILES)).toEqual({ name: 'uid 1234', uid: 1234, gid: 53 });
    expect(resolveAccount('root', FILES)).toBeUndefined();
  });

  test('clear errors for a missing account or group, root by another name, no primary group', () => {
    expect(() => resolveAccount('ghost', FILES)).toThrow(PrivilegeError);
    expect(() => resolveAccount('ghost', FILES)).toThrow(/no account "ghost" in \/etc\/passwd/);
    expect(() => resolveAccount('roamdns:ghosts', FILES)).toThrow(/no group "ghosts"/);
    expect(() => resolveAccount('0', FILES)).toThrow(/is root; write user: root/);
    expect(() => resolveAccount('1234', FILES)).toThrow(/no primary group/);
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'roamdns-privtest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('couldRead follows the mode bits of the path and every parent folder', () => {
    const other = { name: 'x', uid: 424242, gid: 424242 };
    chmodSync(dir, 0o755);
    mkdirSync(path.join(dir, 'zones'));
    writeFileSync(path.join(dir, 'zones', 'a.zone'), 'x');
    chmodSync(path.join(dir, 'zones', 'a.zone'), 0o644);
    expect(couldRead(other, path.join(dir, 'zones'))).toBe(true);
    expect(couldRead(other, path.join(dir, 'zones', 'a.zone'))).toBe(true);
    chmodSync(path.join(dir, 'zones', 'a.zone'), 0o600);
    expect(couldRead(other, path.join(dir, 'zones', 'a.zone'))).toBe(false);
    chmodSync(path.join(dir, 'zones', 'a.zone'), 0o644);
    chmodSync(path.join(dir, 'zones'), 0o750); // others may not list or enter it
    expect(couldRead(other, path.join(dir, 'zones'))).toBe(false);
    expect(couldRead(other, path.join(dir, 'zones', 'a.zone'))).toBe(false);
    expect(couldRead({ ...other, gid: process.getgid!() }, path.join(dir, 'zones', 'a.zone'))).toBe(true); // group bits
    expect(couldRead(other, path.join(dir, 'missing'))).toBe(false);
  });
});

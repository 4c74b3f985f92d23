// cluster.secret_file checks: missing, empty, too open, a directory; the key without its trailing newline.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSecret, SecretError } from '../../failover/secret.js';

const dir = mkdtempSync(join(tmpdir(), 'roamdns-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer, mode: number): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(SecretError); return (e as SecretError).code; }
  return undefined;
}

describe('readSecret', () => {
  it('returns the key without one trailing newline', () => {
    expect(readSecret(file('a', 'c2VjcmV0\n', 0o600)).toString()).toBe('c2VjcmV0');
    expect(readSecret(file('b', 'c2VjcmV0\r\n', 0o400)).toString()).toBe('c2VjcmV0');
    expect(readSecret(file('c', 'no-newline', 0o600)).toString()).toBe('no-newline');
    expect(readSecret(file('d', 'two\n\n', 0o600)).toString()).toBe('two\n');
  });

  it('keeps binary keys intact', () => {
    const key = Buffer.from([0, 1, 2, 255, 10, 13, 7]);
    expect(readSecret(file('bin', key, 0o600))).toEqual(key);
  });

  it.each([0o640, 0o604, 0o620, 0o602, 0o660, 0o644, 0o666, 0o610])('refuses mode %o with ESECRET_MODE', (mode) => {
    const p = file(`m${mode.toString(8)}`, 'key', mode);
    expect(codeOf(() => readSecret(p))).toBe('ESECRET_MODE');
    expect(() => readSecret(p)).toThrow(new RegExp(`${p}.*mode ${mode.toString(8)}.*chmod 600`));
  });

  it('refuses a missing file with ESECRET_MISSING naming the path', () => {
    const p = join(dir, 'nope');
    expect(codeOf(() => readSecret(p))).toBe('ESECRET_MISSING');
    expect(() => readSecret(p)).toThrow(p);
  });

  it('refuses empty files, also when only a newline', () => {
    expect(codeOf(() => readSecret(file('e1', '', 0o600)))).toBe('ESECRET_EMPTY');
    expect(codeOf(() => readSecret(file('e2', '\n', 0o600)))).toBe('ESECRET_EMPTY');
  });

  it('refuses a directory', () => {
    const p = join(dir, 'sub');
    mkdirSync(p, { mode: 0o700 });
    expect(codeOf(() => readSecret(p))).toBe('ESECRET_NOT_FILE');
  });

  it('refuses a huge file', () => {
    expect(codeOf(() => readSecret(file('big', Buffer.alloc(10_000, 65), 0o600)))).toBe('ESECRET_TOO_LARGE');
  });
});

// Reads the cluster's shared HMAC key from cluster.secret_file, refusing files others could read or write.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type SecretErrorCode = 'ESECRET_MISSING' | 'ESECRET_UNREADABLE' | 'ESECRET_NOT_FILE' | 'ESECRET_MODE' | 'ESECRET_EMPTY' | 'ESECRET_TOO_LARGE';

export class SecretError extends Error {
  constructor(readonly code: SecretErrorCode, readonly path: string, message: string, options?: { cause?: unknown }) {
    super(`cluster.secret_file ${path}: ${message}`, options);
    this.name = 'SecretError';
  }
}

export const MAX_SECRET_BYTES = 4096;

/** Opens read-only and checks the open file itself (fstat), so a swap between check and read cannot slip through. */
function openChecked(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SecretError('ESECRET_MISSING', path, 'does not exist; create it with: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE', { cause: e });
    throw new SecretError('ESECRET_UNREADABLE', path, `cannot be opened (${code ?? String(e)})`, { cause: e });
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new SecretError('ESECRET_NOT_FILE', path, 'is not a regular file');
  }
  if ((st.mode & 0o077) !== 0) {
    closeSync(fd);
    const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
    throw new SecretError('ESECRET_MODE', path, `mode ${mode} lets group or others read or write it; allowed: owner only (chmod 600)`);
  }
  if (st.size > MAX_SECRET_BYTES) {
    closeSync(fd);
    throw new SecretError('ESECRET_TOO_LARGE', path, `is ${st.size} bytes, at most ${MAX_SECRET_BYTES}`);
  }
  return fd;
}

/** The key bytes: the file's content without one trailing newline (\n or \r\n). Throws SecretError. */
export function readSecret(path: string): Buffer {
  const fd = openChecked(path);
  const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
  let len = 0;
  try {
    for (let n = 1; n > 0 && len < buf.length; len += n) n = readSync(fd, buf, len, buf.length - len, null);
  } finally {
    closeSync(fd);
  }
  let key = buf.subarray(0, len);
  if (key.length > MAX_SECRET_BYTES) throw new SecretError('ESECRET_TOO_LARGE', path, `is over ${MAX_SECRET_BYTES} bytes`);
  if (key.at(-1) === 0x0a) key = key.subarray(0, key.at(-2) === 0x0d ? -2 : -1);
  if (key.length === 0) throw new SecretError('ESECRET_EMPTY', path, 'is empty; put at least 16 random bytes in it');
  return Buffer.from(key);
}

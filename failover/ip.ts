// IP address text <-> bytes for VIPs: one canonical text form (RFC 5952 for IPv6) so every node compares VIPs alike.

export type Family = 4 | 6;

function parseV4(text: string): Buffer | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

/** Hex groups of one side of '::' (may end with a dotted quad); null when malformed. */
function parseGroups(side: string, allowV4Tail: boolean): number[] | null {
  if (side === '') return [];
  const groups: number[] = [];
  const parts = side.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseV4(p);
      if (!v4) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
      groups.push(parseInt(p, 16));
    } else return null;
  }
  return groups;
}

function parseV6(text: string): Buffer | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1]!, true) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Address text to its bytes (4 or 16), or null when it is not a plain IPv4/IPv6 address. */
export function ipToBytes(text: string): Buffer | null {
  return text.includes(':') ? parseV6(text) : parseV4(text);
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (≥2) of zero groups as '::'. */
function v6Text(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/** Bytes (4 or 16) to canonical text. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) return v6Text(b);
  throw new RangeError(`address must be 4 or 16 bytes, got ${b.length}`);
}

/** Canonical text of an address, or null when malformed. */
export function canonicalIp(text: string): string | null {
  const b = ipToBytes(text);
  return b ? bytesToIp(b) : null;
}

export function familyOf(canonical: string): Family {
  return canonical.includes(':') ? 6 : 4;
}

/** A VIP as configured: canonical address and prefix length ('198.51.100.201/24'; no prefix = host route). */
export interface VipSpec {
  address: string;
  prefix: number;
  family: Family;
}

/** Parses 'ADDRESS[/PREFIX]'; throws RangeError naming the text when it is not valid. */
export function parseVipSpec(text: string): VipSpec {
  const [addr, prefixText, extra] = text.trim().split('/');
  const address = canonicalIp(addr ?? '');
  if (!address || extra !== undefined) throw new RangeError(`vip "${text}": not an IPv4 or IPv6 address with optional /prefix`);
  const family = familyOf(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) {
    throw new RangeError(`vip "${text}": prefix must be 0..${max}`);
  }
  return { address, prefix, family };
}

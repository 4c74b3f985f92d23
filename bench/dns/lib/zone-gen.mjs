// @ts-check
// Writes the benchmark zones and the dnsperf query file. The zone is the shipped example zone
// (zones/example.com.zone) with www's VIPs moved to loopback (127.0.0.201-.202, so the pool
// variant can probe them without leaving the machine) plus generated names; the query file
// draws the same mix from whichever zone it is written for.
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';

export const ORIGIN = 'example.com';
/** www's A records in the benchmark zone: loopback addresses, the pool variant's VIPs. */
export const WWW_VIPS = ['127.0.0.201', '127.0.0.202'];

/**
 * The generated part of a zone: `hosts` names with an A record (every `aaaaEvery`-th also
 * AAAA) and `aliases` CNAMEs pointing at hosts inside the zone.
 * @typedef {{ key: string, hosts: number, aaaaEvery: number, aliases: number }} ZoneShape
 */

/** The example zone plus 1,000 names: 900 hosts (225 with AAAA) and 100 CNAMEs. */
export const SMALL = /** @type {ZoneShape} */ ({ key: 'small', hosts: 900, aaaaEvery: 4, aliases: 100 });
/** 1,000,000 generated records: 800,000 A, 100,000 AAAA, 100,000 CNAME (900,000 names). */
export const LARGE = /** @type {ZoneShape} */ ({ key: 'large', hosts: 800_000, aaaaEvery: 8, aliases: 100_000 });

/** Generated records of a shape (the example zone's own 9 records come on top). */
export const recordCount = (/** @type {ZoneShape} */ s) => s.hosts + Math.ceil(s.hosts / s.aaaaEvery) + s.aliases;

// Addresses are data only: nothing ever sends traffic to them.
export const hostA = (/** @type {number} */ i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
export const hostAAAA = (/** @type {number} */ i) => `2001:db8::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
/** The host an alias points at: spread over all hosts by a prime stride. */
export const aliasTarget = (/** @type {number} */ j, /** @type {number} */ hosts) => (j * 7919) % hosts;

/** The example zone text without its www lines, which the benchmark replaces with loopback VIPs. */
export async function exampleZoneHead(/** @type {string} */ exampleFile) {
  const text = await readFile(exampleFile, 'utf8');
  const kept = text.split('\n').filter((line) => !/^www\s/i.test(line));
  return kept.join('\n').trimEnd() + '\n' +
    '; bench/dns: www moved to loopback VIPs so the pool variant probes only 127.0.0.x\n' +
    WWW_VIPS.map((v) => `www IN A ${v}\n`).join('');
}

/**
 * Streams the zone to `file`, honouring backpressure so a million records need little memory.
 * @param {string} file @param {string} head @param {ZoneShape} shape
 */
export async function writeZone(file, head, shape) {
  const out = createWriteStream(file);
  const write = async (/** @type {string} */ chunk) => { if (!out.write(chunk)) await once(out, 'drain'); };
  await write(head + '; bench/dns: generated names\n');
  let chunk = '';
  for (let i = 0; i < shape.hosts; i++) {
    chunk += `host${i} IN A ${hostA(i)}\n`;
    if (i % shape.aaaaEvery === 0) chunk += `host${i} IN AAAA ${hostAAAA(i)}\n`;
    if (chunk.length > 65536) { await write(chunk); chunk = ''; }
  }
  for (let j = 0; j < shape.aliases; j++) {
    chunk += `alias${j} IN CNAME host${aliasTarget(j, shape.hosts)}\n`;
    if (chunk.length > 65536) { await write(chunk); chunk = ''; }
  }
  await write(chunk);
  out.end();
  await once(out, 'finish');
}

/**
 * The query mix, in percent of the queries. "cname" asks A for an alias, so the answer is the
 * CNAME and the target's A record (RFC 1034 §4.3.2 step 3a, chased inside the zone).
 */
export const MIX = [
  { kind: 'www', percent: 25, what: 'www A (the pool name: 2 VIPs, health-managed in the pool variant)' },
  { kind: 'a', percent: 35, what: 'A of a random host' },
  { kind: 'aaaa', percent: 15, what: 'AAAA of a random host that has one' },
  { kind: 'nxdomain', percent: 10, what: 'A of a name that does not exist (NXDOMAIN, SOA in authority)' },
  { kind: 'cname', percent: 10, what: 'A of a random alias (CNAME + target A)' },
  { kind: 'soa', percent: 5, what: 'SOA of the apex' },
];

/** Deterministic PRNG (mulberry32) so every run queries the same names. */
function prng(/** @type {number} */ seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One dnsperf line ("name type") of the given kind. */
function queryLine(/** @type {string} */ kind, /** @type {ZoneShape} */ s, /** @type {() => number} */ rnd) {
  const pick = (/** @type {number} */ n) => Math.floor(rnd() * n);
  switch (kind) {
    case 'www': return `www.${ORIGIN} A`;
    case 'a': return `host${pick(s.hosts)}.${ORIGIN} A`;
    case 'aaaa': return `host${pick(Math.ceil(s.hosts / s.aaaaEvery)) * s.aaaaEvery}.${ORIGIN} AAAA`;
    case 'nxdomain': return `nx${pick(1e9)}.${ORIGIN} A`;
    case 'cname': return `alias${pick(s.aliases)}.${ORIGIN} A`;
    case 'soa': return `${ORIGIN} SOA`;
    default: throw new Error(`unknown query kind ${kind}`);
  }
}

/**
 * Writes `count` queries in the MIX proportions, shuffled (exact counts, random order).
 * @param {string} file @param {ZoneShape} shape @param {number} count
 */
export async function writeQueries(file, shape, count) {
  const rnd = prng(0x5eed + shape.hosts);
  /** @type {string[]} */
  const kinds = [];
  for (const m of MIX) for (let i = 0; i < Math.round((count * m.percent) / 100); i++) kinds.push(m.kind);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [kinds[i], kinds[j]] = [/** @type {string} */ (kinds[j]), /** @type {string} */ (kinds[i])];
  }
  const out = createWriteStream(file);
  let chunk = '';
  for (const k of kinds) {
    chunk += queryLine(k, shape, rnd) + '\n';
    if (chunk.length > 65536) { if (!out.write(chunk)) await once(out, 'drain'); chunk = ''; }
  }
  out.end(chunk);
  await once(out, 'finish');
}

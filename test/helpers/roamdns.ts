// Test-side toolkit shared by every server test: start the real `roamdns serve` CLI on
// 127.0.0.1, send DNS queries over UDP/TCP and decode the answers into comparable RR lists
// (own small codec, so that any type survives: unknown types come back in RFC 3597 form),
// and run Debian's `dig`. Network rule: every socket here talks to 127.0.0.0/8 only.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HOST = '127.0.0.1';

// ---- type and class vocabulary -------------------------------------------------------

const TYPES: Record<string, number> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MX: 15, TXT: 16, AAAA: 28, SRV: 33,
  NAPTR: 35, DNAME: 39, OPT: 41, DS: 43, RRSIG: 46, NSEC: 47, DNSKEY: 48, NSEC3: 50,
  NSEC3PARAM: 51, ZONEMD: 63, SVCB: 64, HTTPS: 65, IXFR: 251, AXFR: 252, MAILB: 253, MAILA: 254, ANY: 255, CAA: 257,
};
const CLASSES: Record<string, number> = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 };
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN',
  'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

const byCode = (table: Record<string, number>, n: number, prefix: string): string =>
  Object.keys(table).find((k) => table[k] === n) ?? `${prefix}${n}`;
export const typeName = (n: number): string => byCode(TYPES, n, 'TYPE');
export const className = (n: number): string => byCode(CLASSES, n, 'CLASS');
export const rcodeName = (n: number): string => (n === 16 ? 'BADVERS' : RCODES[n] ?? `RCODE${n}`);
function code(table: Record<string, number>, v: string | number, prefix: string): number {
  if (typeof v === 'number') return v;
  const u = v.toUpperCase();
  if (u in table) return table[u]!;
  if (u.startsWith(prefix) && /^\d+$/.test(u.slice(prefix.length))) return Number(u.slice(prefix.length));
  throw new Error(`unknown ${prefix === 'TYPE' ? 'type' : 'class'} ${v}`);
}
export const typeCode = (v: string | number): number => code(TYPES, v, 'TYPE');
export const classCode = (v: string | number): number => code(CLASSES, v, 'CLASS');

// ---- message model -------------------------------------------------------------------

/** One resource record, normalised for comparison: owner lower-case, rdata in presentation form. */
export interface DnsRR { name: string; type: string; class: string; ttl: number; rdata: string }
export interface DnsQuestion { name: string; type: string; class: string }
export interface DnsFlags { qr: boolean; aa: boolean; tc: boolean; rd: boolean; ra: boolean; ad: boolean; cd: boolean }
export interface EdnsInfo { udpSize: number; version: number; do: boolean }
export interface DnsResponse {
  id: number; opcode: number; rcode: number; rcodeName: string; flags: DnsFlags;
  question: DnsQuestion[]; // names as sent back (case preserved)
  answer: DnsRR[]; authority: DnsRR[]; additional: DnsRR[]; // additional without the OPT
  edns: EdnsInfo | null; size: number;
}
export interface EdnsOptions { udpSize?: number; do?: boolean; version?: number }
export interface MessageSpec {
  id?: number; opcode?: number; rd?: boolean; cd?: boolean; ad?: boolean;
  questions: { name: string; type: string | number; class?: string | number }[];
  edns?: EdnsOptions | boolean | null;
}

// ---- encoder ---------------------------------------------------------------------------

/** Presentation name (with \X and \DDD escapes, case kept) to wire labels. */
function encodeName(name: string): Buffer {
  const out: number[] = [];
  let label: number[] = [];
  const flush = (): void => { out.push(label.length, ...label); label = []; };
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    if (ch === '\\') {
      const d = name.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d)) { label.push(Number(d)); i += 3; } else { label.push(name.charCodeAt(++i)); }
    } else if (ch === '.') { if (label.length > 0) flush(); } else label.push(name.charCodeAt(i) & 0xff);
  }
  if (label.length > 0) flush();
  out.push(0);
  return Buffer.from(out);
}

/** Builds a query message; any count and flag combination, for crafted cases too. */
export function encodeMessage(spec: MessageSpec): Buffer {
  const edns = spec.edns === true ? {} : spec.edns || null;
  const h = Buffer.alloc(12);
  h.writeUInt16BE(spec.id ?? Math.floor(Math.random() * 0x10000), 0);
  h.writeUInt16BE(((spec.opcode ?? 0) << 11) | (spec.rd ? 0x100 : 0) | (spec.ad ? 0x20 : 0) | (spec.cd ? 0x10 : 0), 2);
  h.writeUInt16BE(spec.questions.length, 4);
  h.writeUInt16BE(edns ? 1 : 0, 10);
  const parts: Buffer[] = [h];
  for (const q of spec.questions) {
    const tc = Buffer.alloc(4);
    tc.writeUInt16BE(typeCode(q.type), 0);
    tc.writeUInt16BE(classCode(q.class ?? 'IN'), 2);
    parts.push(encodeName(q.name), tc);
  }
  if (edns) {
    const opt = Buffer.alloc(11); // root name, OPT, size, ext-rcode, version, flags, rdlen 0
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(edns.udpSize ?? 1232, 3);
    opt.writeUInt8(edns.version ?? 0, 6);
    opt.writeUInt16BE(edns.do ? 0x8000 : 0, 7);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

// ---- decoder ---------------------------------------------------------------------------

function escapeOctet(c: number, special: string): string {
  if (c < 0x21 || c > 0x7e) return '\\' + String(c).padStart(3, '0');
  const ch = String.fromCharCode(c);
  return special.includes(ch) ? '\\' + ch : ch;
}

/** Reads a possibly compressed name; returns presentation form (absolute) and the next offset. */
function readName(buf: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  let next = -1;
  for (let jumps = 0; ; ) {
    if (off >= buf.length) throw new Error('name runs past the message');
    const len = buf[off]!;
    if (len === 0) { off++; break; }
    if ((len & 0xc0) === 0xc0) {
      if (++jumps > 64 || off + 1 >= buf.length) throw new Error('bad compression pointer');
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1]!;
      continue;
    }
    if (len > 63 || off + 1 + len > buf.length) throw new Error('bad label');
    labels.push([...buf.subarray(off + 1, off + 1 + len)].map((c) => escapeOctet(c, '."\\();$@')).join(''));
    off += 1 + len;
  }
  return [labels.length === 0 ? '.' : labels.join('.') + '.', next < 0 ? off : next];
}

const lowerName = (n: string): string => n.replace(/[A-Z]/g, (c) => c.toLowerCase());
const charString = (b: Buffer): string => '"' + [...b].map((c) => (c === 0x20 ? ' ' : escapeOctet(c, '"\\'))).join('') + '"';
const hex = (b: Buffer): string => b.toString('hex');

function ipv6Text(b: Buffer): string {
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let best = -1, bestLen = 1; // RFC 5952: longest run of >= 2 zero groups becomes ::
  for (let i = 0; i < 8; ) {
    let j = i; while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const t = g.map((x) => x.toString(16));
  return best < 0 ? t.join(':') : `${t.slice(0, best).join(':')}::${t.slice(best + bestLen).join(':')}`;
}

/** RDATA to presentation text; names lower-cased (compared case-insensitively). */
function rdataText(buf: Buffer, type: number, start: number, len: number): string {
  const end = start + len, rd = buf.subarray(start, end);
  const nameAt = (o: number): [string, number] => { const [n, nx] = readName(buf, o); return [lowerName(n), nx]; };
  const strings = (o: number): string[] => {
    const out: string[] = [];
    while (o < end) { const l = buf[o]!; if (o + 1 + l > end) throw new Error('bad string'); out.push(charString(buf.subarray(o + 1, o + 1 + l))); o += 1 + l; }
    return out;
  };
  const check = (o: number, s: string): string => { if (o !== end) throw new Error('rdata length mismatch'); return s; };
  switch (type) {
    case 1: return check(start + 4, [...rd.subarray(0, 4)].join('.'));
    case 28: return check(start + 16, ipv6Text(rd));
    case 2: case 5: case 12: case 39: { const [n, o] = nameAt(start); return check(o, n); }
    case 6: {
      const [m, o1] = nameAt(start); const [r, o2] = nameAt(o1);
      const nums = [0, 1, 2, 3, 4].map((i) => buf.readUInt32BE(o2 + i * 4));
      return check(o2 + 20, `${m} ${r} ${nums.join(' ')}`);
    }
    case 15: { const [n, o] = nameAt(start + 2); return check(o, `${rd.readUInt16BE(0)} ${n}`); }
    case 33: { const [n, o] = nameAt(start + 6); return check(o, `${rd.readUInt16BE(0)} ${rd.readUInt16BE(2)} ${rd.readUInt16BE(4)} ${n}`); }
    case 13: case 16: return strings(start).join(' ');
    case 43: return `${rd.readUInt16BE(0)} ${rd[2]} ${rd[3]} ${hex(rd.subarray(4)).toUpperCase()}`;
    case 257: {
      const tl = rd[1]!;
      if (2 + tl > len) throw new Error('bad CAA');
      return `${rd[0]} ${rd.subarray(2, 2 + tl).toString('latin1')} ${charString(rd.subarray(2 + tl))}`;
    }
    default: return `\\# ${len}${len ? ' ' + hex(rd) : ''}`;
  }
}

/** Decodes a whole message; throws on a malformed one. */
export function parseMessage(buf: Buffer): DnsResponse {
  if (buf.length < 12) throw new Error(`message of ${buf.length} octets is shorter than a header`);
  const f = buf.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o));
  let off = 12;
  const question: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]!; i++) {
    const [name, o] = readName(buf, off);
    question.push({ name, type: typeName(buf.readUInt16BE(o)), class: className(buf.readUInt16BE(o + 2)) });
    off = o + 4;
  }
  const sections: DnsRR[][] = [[], [], []];
  let edns: EdnsInfo | null = null, extRcode = 0;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const [name, o] = readName(buf, off);
      if (o + 10 > buf.length) throw new Error('RR header runs past the message');
      const type = buf.readUInt16BE(o), klass = buf.readUInt16BE(o + 2), ttl = buf.readUInt32BE(o + 4);
      const rdlen = buf.readUInt16BE(o + 8);
      if (o + 10 + rdlen > buf.length) throw new Error('RDATA runs past the message');
      off = o + 10 + rdlen;
      if (type === 41 && s === 2) {
        edns = { udpSize: klass, version: (ttl >>> 16) & 0xff, do: (ttl & 0x8000) !== 0 };
        extRcode = ttl >>> 24;
        continue;
      }
      let rdata: string;
      try { rdata = rdataText(buf, type, o + 10, rdlen); } catch { rdata = `\\# ${rdlen} ${hex(buf.subarray(o + 10, off))}`; }
      sections[s]!.push({ name: lowerName(name), type: typeName(type), class: className(klass), ttl, rdata });
    }
  }
  const rcode = (extRcode << 4) | (f & 0xf);
  return {
    id: buf.readUInt16BE(0), opcode: (f >> 11) & 0xf, rcode, rcodeName: rcodeName(rcode),
    flags: { qr: !!(f & 0x8000), aa: !!(f & 0x400), tc: !!(f & 0x200), rd: !!(f & 0x100), ra: !!(f & 0x80), ad: !!(f & 0x20), cd: !!(f & 0x10) },
    question, answer: sections[0]!, authority: sections[1]!, additional: sections[2]!, edns, size: buf.length,
  };
}

// ---- transport -------------------------------------------------------------------------

export interface SendOptions { transport?: 'udp' | 'tcp'; timeoutMs?: number; localAddress?: string; host?: string }

/** Sends one raw message to host:port (default 127.0.0.1) and resolves with the first reply. */
export async function sendRaw(port: number, msg: Buffer, opts: SendOptions = {}): Promise<Buffer> {
  const replies = await exchange(port, msg, opts, (got) => got.length >= 1);
  return replies[0]!;
}

/** Low-level exchange: UDP takes one datagram; TCP reads length-prefixed messages until `done`. */
function exchange(port: number, msg: Buffer, opts: SendOptions, done: (got: Buffer[]) => boolean): Promise<Buffer[]> {
  const host = opts.host ?? HOST, timeoutMs = opts.timeoutMs ?? 3000;
  if (!host.startsWith('127.')) throw new Error(`network rule: refusing to send to ${host}`);
  return new Promise((resolve, reject) => {
    let cleanup = (): void => {};
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${opts.transport ?? 'udp'} answer from ${host}:${port} within ${timeoutMs} ms`)); }, timeoutMs);
    const finish = (err: Error | null, got?: Buffer[]): void => { clearTimeout(timer); cleanup(); if (err) reject(err); else resolve(got!); };
    if ((opts.transport ?? 'udp') === 'udp') {
      const sock = dgram.createSocket('udp4');
      cleanup = () => { try { sock.close(); } catch { /* already closed */ } };
      sock.on('error', (e) => finish(e));
      sock.on('message', (m) => finish(null, [m]));
      sock.bind({ address: opts.localAddress ?? HOST, port: 0 }, () => sock.send(msg, port, host));
      return;
    }
    const got: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const sock = net.connect({ host, port, localAddress: opts.localAddress ?? HOST });
    cleanup = () => sock.destroy();
    sock.on('error', (e) => finish(e));
    sock.on('connect', () => { const l = Buffer.alloc(2); l.writeUInt16BE(msg.length); sock.write(Buffer.concat([l, msg])); });
    sock.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        got.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
        let isDone: boolean;
        try { isDone = done(got); } catch (e) { return finish(e as Error); }
        if (isDone) return finish(null, got);
      }
    });
    sock.on('close', () => finish(got.length ? null : new Error(`TCP connection to ${host}:${port} closed without an answer`), got));
  });
}

export interface QueryOptions extends SendOptions {
  qclass?: string | number; opcode?: number; rd?: boolean; cd?: boolean; ad?: boolean; id?: number;
  edns?: EdnsOptions | boolean | null; // true: EDNS0 with 1232 octets, DO clear
}

/** One query to 127.0.0.1:port; the parsed response (throws on timeout or a malformed answer). */
export async function query(port: number, qname: string, qtype: string | number, opts: QueryOptions = {}): Promise<DnsResponse> {
  const id = opts.id ?? Math.floor(Math.random() * 0x10000);
  const msg = encodeMessage({ id, opcode: opts.opcode, rd: opts.rd, cd: opts.cd, ad: opts.ad, edns: opts.edns,
    questions: [{ name: qname, type: qtype, class: opts.qclass }] });
  const res = parseMessage(await sendRaw(port, msg, opts));
  if (res.id !== id) throw new Error(`answer id ${res.id} does not match query id ${id}`);
  return res;
}

/** AXFR over TCP (RFC 5936): every message until the closing SOA, or the first error rcode. */
export async function axfr(port: number, zone: string, opts: SendOptions = {}): Promise<{ rcode: string; records: DnsRR[] }> {
  const msg = encodeMessage({ questions: [{ name: zone, type: 'AXFR' }] });
  let soas = 0;
  const replies = await exchange(port, msg, { timeoutMs: 10000, ...opts, transport: 'tcp' }, (got) => {
    const last = parseMessage(got[got.length - 1]!);
    soas += last.answer.filter((r) => r.type === 'SOA').length;
    return last.rcode !== 0 || soas >= 2;
  });
  const parsed = replies.map(parseMessage);
  const bad = parsed.find((p) => p.rcode !== 0);
  if (!bad && soas < 2) throw new Error(`AXFR of ${zone} from port ${port} ended after ${parsed.length} messages without the closing SOA`);
  return { rcode: bad ? bad.rcodeName : 'NOERROR', records: parsed.flatMap((p) => p.answer) };
}

/** Canonical text of an RR for set comparison: `name ttl class type rdata`. */
export const rrText = (r: DnsRR): string => `${r.name} ${r.ttl} ${r.class} ${r.type} ${r.rdata}`;

// ---- processes -------------------------------------------------------------------------

export interface ManagedProcess { child: ChildProcess; output(): string; exited: Promise<number | null>; stop(): Promise<void> }
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) try { c.kill('SIGKILL'); } catch { /* gone */ } });

/** Spawns a server that dies with us (setpriv --pdeathsig when available, plus an exit hook). */
export function spawnManaged(cmd: string, args: string[], opts: { cwd?: string } = {}): ManagedProcess {
  const wrap = existsSync('/usr/bin/setpriv');
  const child = spawn(wrap ? '/usr/bin/setpriv' : cmd, wrap ? ['--pdeathsig', 'KILL', '--', cmd, ...args] : args,
    { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-64 * 1024); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => { out += `\nspawn error: ${e.message}`; live.delete(child); resolve(-1); });
    child.on('exit', (c, sig) => { live.delete(child); resolve(c ?? (sig ? 128 : null)); });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || !live.has(child)) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return { child, output: () => out, exited, stop };
}

/**
 * A temp dir named `<prefix>-<our pid>-XXXXXX`; first removes such dirs left behind by test
 * processes that were killed (their pid is gone), since afterAll never ran for them.
 */
export async function makeTempDir(prefix: string): Promise<string> {
  for (const name of await readdir(os.tmpdir()).catch(() => [] as string[])) {
    const pid = Number(new RegExp(`^${prefix}-(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try { process.kill(pid, 0); } catch { await rm(path.join(os.tmpdir(), name), { recursive: true, force: true }); }
  }
  return mkdtemp(path.join(os.tmpdir(), `${prefix}-${process.pid}-`));
}

/** A port free for both UDP and TCP on 127.0.0.1 (bind port 0, then check the UDP side). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const srv = net.createServer();
    const port = await new Promise<number>((res, rej) => { srv.once('error', rej); srv.listen(0, HOST, () => res((srv.address() as net.AddressInfo).port)); });
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((res) => { udp.once('error', () => res(false)); udp.bind(port, HOST, () => res(true)); });
    await new Promise<void>((res) => { try { udp.close(() => res()); } catch { res(); } });
    await new Promise<void>((res) => srv.close(() => res()));
    if (ok) return port;
  }
  throw new Error('no free UDP+TCP port found on 127.0.0.1');
}

/**
 * Polls `origin` SOA over UDP until the server answers it authoritatively; throws with the
 * server's output when it exits first or the deadline passes.
 */
export async function waitForSoa(port: number, origin: string, proc: ManagedProcess, label: string, timeoutMs = 10000, fatal?: RegExp): Promise<DnsResponse> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  let dead = false;
  void proc.exited.then(() => { dead = true; });
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${label} exited (code ${proc.child.exitCode}) before answering:\n${proc.output()}`);
    if (fatal?.test(proc.output())) throw new Error(`${label} failed to load ${origin}:\n${proc.output()}`);
    try {
      const r = await query(port, origin, 'SOA', { timeoutMs: 300 });
      if (r.rcode === 0 && r.answer.some((a) => a.type === 'SOA')) return r;
      last = `${r.rcodeName}, ${r.answer.length} answers`;
    } catch (e) { last = (e as Error).message; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${label} did not answer ${origin} SOA on port ${port} within ${timeoutMs} ms (last: ${last}):\n${proc.output()}`);
}

// ---- roamdns ---------------------------------------------------------------------------

export interface RoamdnsServer { port: number; statusPort: number; dir: string; configPath: string; proc: ManagedProcess; stop(): Promise<void> }
export interface RoamdnsOptions { zones: string[] | string; transferAllow?: string[]; extraYaml?: string; readyZone?: string; /** More lines under `dns:` (indented two spaces). */ dnsYaml?: string; /** dns.workers: 1 unless given here or in dnsYaml; 'default' writes none. */ workers?: number | 'default' }

/**
 * Starts `node dist/cli/main.js serve` with a generated config; resolves once it answers SOA.
 * The ports are free when picked, but a large zone loads for seconds before the server binds
 * them, and tests running beside may take one meanwhile: on EADDRINUSE it starts again on others.
 */
export async function startRoamdns(opts: RoamdnsOptions): Promise<RoamdnsServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRoamdnsOnce(opts);
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test((e as Error).message)) throw e;
    }
  }
}

async function startRoamdnsOnce(opts: RoamdnsOptions): Promise<RoamdnsServer> {
  const cli = path.join(REPO_ROOT, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} not found: build roamdns first (npx tsc -p tsconfig.json)`);
  // Ready when the first zone (by file name `<origin>.zone`, or readyZone) answers its SOA.
  const zones = typeof opts.zones === 'string' ? readdirSync(opts.zones).filter((f) => f.endsWith('.zone')).sort() : opts.zones;
  if (!opts.readyZone && zones.length === 0) throw new Error(`no *.zone file in ${String(opts.zones)}: pass readyZone`);
  const readyZone = opts.readyZone ?? path.basename(zones[0]!).replace(/\.zone$/, '') + '.';
  const [port, statusPort] = [await freePort(), await freePort()];
  const dir = await makeTempDir('roamdns-test');
  const configPath = path.join(dir, 'roamdns.yaml');
  const zonesYaml = typeof opts.zones === 'string' ? JSON.stringify(path.resolve(opts.zones)) : `[ ${opts.zones.map((z) => JSON.stringify(path.resolve(z))).join(', ')} ]`;
  await writeFile(configPath, [
    `zones: ${zonesYaml}`, 'dns:', `  listen: [${HOST}:${port}]`,
    `  transfer_allow: [${(opts.transferAllow ?? ['127.0.0.1/32']).join(', ')}]`, ...(opts.dnsYaml ? [opts.dnsYaml] : []),
    // One answering process unless the test asks for workers: rotation, rate limits and reloads
    // are then exact per query (test/e2e/workers.test.ts covers the default, one per core).
    ...(opts.workers === 'default' || opts.dnsYaml?.includes('workers:') ? [] : [`  workers: ${opts.workers ?? 1}`]),
    'status:', `  listen: ${HOST}:${statusPort}`, opts.extraYaml ?? '', '',
  ].join('\n'));
  const proc = spawnManaged(process.execPath, [cli, 'serve', '--config', configPath], { cwd: dir });
  const stop = async (): Promise<void> => { await proc.stop(); await rm(dir, { recursive: true, force: true }); };
  try {
    await waitForSoa(port, readyZone, proc, 'roamdns serve');
    // The status API is bound before DNS answers (cli/serve.ts); kept as a guard: ready means both.
    for (let t0 = Date.now(); ; ) {
      // Any HTTP answer will do (401 behind status.token_file): the server is listening.
      const ok = await fetch(`http://${HOST}:${statusPort}/status`).then(async (r) => { await r.arrayBuffer(); return true; }, () => false);
      if (ok) break;
      if (Date.now() - t0 > 10_000) throw new Error(`roamdns serve: status API on ${HOST}:${statusPort} not answering\n${proc.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) { await stop(); throw e; }
  return { port, statusPort, dir, configPath, proc, stop };
}

// ---- dig -------------------------------------------------------------------------------

export interface DigResult { status: string; opcode: string; flags: string[]; answer: DnsRR[]; authority: DnsRR[]; additional: DnsRR[]; stdout: string }

/** Runs `dig +norec @127.0.0.1 -p PORT ...args` and parses its default output. */
export function dig(port: number, ...args: string[]): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile('dig', ['+norec', '+time=2', '+tries=1', `@${HOST}`, '-p', String(port), ...args], { timeout: 15000 }, (err, stdout, stderr) => {
      if (err && !stdout) return reject(new Error(`dig failed: ${err.message} ${stderr}`));
      const head = /->>HEADER<<- opcode: (\w+), status: (\w+)/.exec(stdout);
      if (!head) return reject(new Error(`dig gave no answer header:\n${stdout}${stderr}`));
      const flags = (/;; flags:([^;]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
      const res: DigResult = { opcode: head[1]!, status: head[2]!, flags, answer: [], authority: [], additional: [], stdout };
      let cur: DnsRR[] | null = null;
      for (const line of stdout.split('\n')) {
        const sec = /^;; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:/.exec(line)?.[1];
        if (sec) { cur = sec === 'ANSWER' ? res.answer : sec === 'AUTHORITY' ? res.authority : res.additional; continue; }
        if (!line.trim() || line.startsWith(';')) { if (!line.trim()) cur = null; continue; }
        const m = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
        if (cur && m) cur.push({ name: lowerName(m[1]!), ttl: Number(m[2]), class: m[3]!, type: m[4]!, rdata: m[5]!.replace(/\s+/g, ' ').trim() });
      }
      resolve(res);
    });
  });
}

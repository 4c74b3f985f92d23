// NOTIFY sender (RFC 1996, server/notify.ts): the message, retries with backoff, what counts as
// the answer, TSIG, and serial tracking, with a fake socket and fake timers; then real BIND and
// Knot secondaries of `roamdns serve` (long SOA refresh) that pick up a new serial only because a
// NOTIFY from this module told them. 127.0.0.1 only.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Notifier, notifyMessage, udpTransport, type NotifyTarget, type NotifyTransport, type Timers } from '../../server/notify.js';
import { nameToWire } from '../../server/rr.js';
import { checkRequest, keysFromConfig, parseBindKeys, TsigKeyring, type TsigKey } from '../../server/tsig.js';
import { parseZoneText } from '../../server/zone-parser.js';
import { buildZone, ZoneSet } from '../../server/zone.js';
import { startBindSecondary, startKnotSecondary, startServeWithDns, type ReferenceServer, type TsigKeySpec } from '../helpers/reference.js';
import { freePort, makeTempDir, parseMessage, query, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';

const ORIGIN = 'example.org.';
const SECONDARY: NotifyTarget = { host: '127.0.0.1', port: 5300 };

/** Timers that run only when the test moves time on. */
class FakeTimers implements Timers {
  now = 0;
  private next = 1;
  private readonly queue = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.queue.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.queue.delete(h as number);
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.queue.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.queue.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = until;
  }
}

/** A socket that records what is sent (with the fake time) and lets the test deliver replies. */
class FakeTransport implements NotifyTransport {
  sent: { msg: Buffer; target: NotifyTarget; at: number }[] = [];
  private handler: (msg: Buffer, from: { address: string; port: number }) => void = () => {};
  constructor(private readonly timers: FakeTimers) {}
  send(msg: Buffer, target: NotifyTarget): void { this.sent.push({ msg, target, at: this.timers.now }); }
  onMessage(h: (msg: Buffer, from: { address: string; port: number }) => void): void { this.handler = h; }
  close(): void {}
  deliver(msg: Buffer, from: { address: string; port: number } = { address: SECONDARY.host, port: SECONDARY.port }): void { this.handler(msg, from); }
}

/** The secondary's answer to a NOTIFY: same ID and question, QR=1, AA, the given rcode. */
function answer(notify: Buffer, rcode = 0, patch: (b: Buffer) => void = () => {}): Buffer {
  const qEnd = 12 + nameToWire(['example', 'org']).length + 4;
  const out = Buffer.from(notify.subarray(0, qEnd));
  out[2] = 0x80 | (4 << 3) | 0x04;
  out[3] = rcode;
  out.fill(0, 6, 12);
  patch(out);
  return out;
}

const SOA_RDATA = (serial: number) => {
  const zone = buildZone(ORIGIN, parseZoneText(zoneText(serial), { file: 'z', origin: ORIGIN }).records);
  return { ttlSeconds: zone.soa.ttlSeconds, rdata: zone.soa.rdatas[0]! };
};

function zoneText(serial: number, extra: string[] = []): string {
  // Refresh and retry of an hour: without NOTIFY a secondary would not look again during the test.
  return [`$ORIGIN ${ORIGIN}`, '$TTL 60', `@ SOA ns1 hostmaster ${serial} 3600 3600 86400 60`, '@ NS ns1', 'ns1 A 127.0.0.1',
    `www A 198.51.100.${serial}`, ...extra, ''].join('\n');
}

function setup(opts: { tsig?: TsigKey; targets?: NotifyTarget[]; tries?: number; delayMs?: number } = {}) {
  const timers = new FakeTimers();
  const transport = new FakeTransport(timers);
  const results: unknown[] = [];
  const notifier = new Notifier({ targets: opts.targets ?? [SECONDARY], tsig: opts.tsig, tries: opts.tries, delayMs: opts.delayMs },
    { transport, timers, onResult: (r) => results.push(r) });
  return { timers, transport, notifier, results };
}

describe('NOTIFY messages', () => {
  it('is opcode NOTIFY, AA, question <zone> SOA IN, with the SOA as a hint in the answer', () => {
    const m = parseMessage(notifyMessage(4242, ORIGIN, SOA_RDATA(7)));
    expect(m).toMatchObject({ id: 4242, opcode: 4, flags: { qr: false, aa: true, rd: false }, question: [{ name: 'example.org.', type: 'SOA', class: 'IN' }] });
    expect(m.answer).toEqual([{ name: 'example.org.', type: 'SOA', class: 'IN', ttl: 60, rdata: 'ns1.example.org. hostmaster.example.org. 7 3600 3600 86400 60' }]);
    expect(parseMessage(notifyMessage(1, ORIGIN)).answer).toEqual([]);
  });
});

describe('Notifier (fake socket and timers)', () => {
  it('resends the same message after 1, 2, 4 and 8 s and gives up 16 s after the fifth', async () => {
    const { timers, transport, notifier } = setup();
    const done = notifier.notify(ORIGIN, 7, SOA_RDATA(7));
    timers.advance(60_000);
    const [r] = await done;
    expect(transport.sent.map((s) => s.at)).toEqual([0, 1000, 3000, 7000, 15_000]);
    expect(new Set(transport.sent.map((s) => s.msg.toString('hex'))).size).toBe(1);
    expect(r).toMatchObject({ zone: ORIGIN, serial: 7, target: '127.0.0.1:5300', result: 'timeout', tries: 5 });
    expect(timers.now).toBe(60_000);
  });

  it('waits delayMs before the first send when asked to', async () => {
    const { timers, transport, notifier } = setup({ delayMs: 500, tries: 2 });
    const done = notifier.notify(ORIGIN, 7);
    expect(transport.sent).toEqual([]);
    timers.advance(10_000);
    expect(transport.sent.map((s) => s.at)).toEqual([500, 1500]);
    expect((await done)[0]!.result).toBe('timeout');
  });

  it('stops at the first matching response: same ID, QR=1, opcode NOTIFY, from the secondary, our zone', async () => {
    const { timers, transport, notifier, results } = setup();
    const done = notifier.notify('EXAMPLE.org', 7);
    timers.advance(1000);
    const sent = transport.sent[0]!.msg;
    // Near misses that must be ignored:
    transport.deliver(answer(sent, 0, (b) => b.writeUInt16BE((b.readUInt16BE(0) + 1) & 0xffff, 0))); // another ID
    transport.deliver(answer(sent), { address: '127.0.0.2', port: SECONDARY.port }); // another host
    transport.deliver(answer(sent), { address: SECONDARY.host, port: 5301 }); // another port
    transport.deliver(answer(sent, 0, (b) => { b[2] = b[2]! & 0x7f; })); // QR=0: a query, not a response
    transport.deliver(answer(sent, 0, (b) => { b[2] = (b[2]! & 0x87) | 0; })); // opcode QUERY
    transport.deliver(answer(sent, 0, (b) => { b[13] = 'x'.charCodeAt(0); })); // question for another zone
    transport.deliver(Buffer.alloc(5));
    expect(results).toEqual([]);
    transport.deliver(answer(sent), { address: '::ffff:127.0.0.1', port: SECONDARY.port });
    const [r] = await done;
    expect(r).toMatchObject({ result: 'acked', tries: 2, zone: ORIGIN });
    timers.advance(60_000);
    expect(transport.sent.length).toBe(2);
  });

  it('treats an error rcode as a final answer (rejected), not as a loss', async () => {
    const { timers, transport, notifier } = setup();
    const done = notifier.notify(ORIGIN, 7);
    transport.deliver(answer(transport.sent[0]!.msg, 5));
    const [r] = await done;
    expect(r).toMatchObject({ result: 'rejected', rcode: 5, tries: 1 });
    timers.advance(60_000);
    expect(transport.sent.length).toBe(1);
  });

  it('notifies every target with its own ID and outcome', async () => {
    const targets = [SECONDARY, { host: '127.0.0.2', port: 53 }, { host: '::1', port: 5353 }];
    const { timers, transport, notifier } = setup({ targets, tries: 2 });
    const done = notifier.notify(ORIGIN, 9);
    expect(transport.sent.map((s) => `${s.target.host}:${s.target.port}`)).toEqual(['127.0.0.1:5300', '127.0.0.2:53', '::1:5353']);
    expect(new Set(transport.sent.map((s) => s.msg.readUInt16BE(0))).size).toBe(3);
    transport.deliver(answer(transport.sent[1]!.msg), { address: '127.0.0.2', port: 53 });
    timers.advance(10_000);
    expect((await done).map((r) => r.result)).toEqual(['timeout', 'acked', 'timeout']);
  });

  it('lets a newer serial replace a pending NOTIFY for the same zone and secondary', async () => {
    const { timers, transport, notifier } = setup();
    const first = notifier.notify(ORIGIN, 7);
    timers.advance(1500);
    const second = notifier.notify(ORIGIN, 8);
    expect((await first)[0]).toMatchObject({ result: 'superseded', serial: 7 });
    transport.deliver(answer(transport.sent[0]!.msg)); // a late answer to the old one changes nothing
    transport.deliver(answer(transport.sent[2]!.msg));
    expect((await second)[0]).toMatchObject({ result: 'acked', serial: 8, tries: 1 });
  });

  it('signs with TSIG; accepts only a response signed with the key, and takes a TSIG error as final', async () => {
    const key = keysFromConfig({ 'xfr-key': { secret: Buffer.alloc(32, 5).toString('base64') } })[0]!;
    const ring = new TsigKeyring([key]);
    const { timers, transport, notifier } = setup({ tsig: key });
    const done = notifier.notify(ORIGIN, 7);
    const sent = transport.sent[0]!.msg;
    const check = checkRequest(ring, sent, 'udp');
    expect(check.kind).toBe('signed'); // what a secondary with the key sees
    transport.deliver(answer(sent)); // unsigned: may be forged, ignored
    timers.advance(1000);
    expect(transport.sent.length).toBe(2);
    const signedAnswer = (check as { signer: { sign(b: Buffer): Buffer } }).signer.sign(answer(sent));
    transport.deliver(signedAnswer);
    expect((await done)[0]).toMatchObject({ result: 'acked', tries: 2 });

    // A secondary without the key answers BADKEY (unsigned, error in the TSIG): rejected at once.
    const other = setup({ tsig: key });
    const d2 = other.notifier.notify(ORIGIN, 7);
    const reject = checkRequest(new TsigKeyring(), other.transport.sent[0]!.msg, 'udp');
    other.transport.deliver((reject as { response: Buffer }).response);
    expect((await d2)[0]).toMatchObject({ result: 'rejected', rcode: 9 });
  });

  it('learns serials from the first zone set and notifies zones whose serial changed after', async () => {
    const { transport, notifier } = setup();
    const set = (serial: number, extra?: string) => {
      const zones = new Map([[ORIGIN, buildZone(ORIGIN, parseZoneText(zoneText(serial), { file: 'z', origin: ORIGIN }).records)]]);
      if (extra) zones.set(extra, buildZone(extra, parseZoneText(zoneText(1).replaceAll(ORIGIN, extra), { file: 'z', origin: extra }).records));
      return new ZoneSet(zones);
    };
    notifier.zonesLoaded(set(1));
    notifier.zonesLoaded(set(1));
    expect(transport.sent).toEqual([]);
    notifier.zonesLoaded(set(2));
    expect(transport.sent.length).toBe(1);
    expect(parseMessage(transport.sent[0]!.msg).answer[0]!.rdata).toMatch(/ 2 3600 /);
    notifier.zonesLoaded(set(2, 'example.net.'));
    expect(parseMessage(transport.sent[1]!.msg).question[0]!.name).toBe('example.net.');
    notifier.close();
  });
});

describe('Notifier on a real UDP socket', () => {
  it('retries a lost NOTIFY and is acked by a responder on 127.0.0.1', async () => {
    const responder = dgram.createSocket('udp4');
    let seen = 0;
    responder.on('message', (m, r) => { if (++seen >= 2) responder.send(answer(m), r.port, r.address); }); // the first is "lost"
    await new Promise<void>((res) => responder.bind(0, '127.0.0.1', () => res()));
    const notifier = new Notifier({ targets: [{ host: '127.0.0.1', port: responder.address().port }], timeoutMs: 100 }, { transport: udpTransport({ ipv4: '127.0.0.1' }) });
    try {
      const [r] = await notifier.notify(ORIGIN, 3);
      expect(r).toMatchObject({ result: 'acked', tries: 2 });
    } finally {
      notifier.close();
      responder.close();
    }
  });
});

// ---- real secondaries --------------------------------------------------------------------------

function tsigKeygen(name: string): Promise<{ spec: TsigKeySpec; key: TsigKey }> {
  const bin = ['/usr/sbin/tsig-keygen', '/usr/bin/tsig-keygen'].find((p) => existsSync(p));
  if (!bin) throw new Error('tsig-keygen not found: apt-get install bind9');
  return new Promise((resolve, reject) => execFile(bin, ['-a', 'hmac-sha256', name], (err, stdout) => {
    if (err) return reject(err);
    const key = parseBindKeys(stdout)[0]!;
    resolve({ key, spec: { name, algorithm: 'hmac-sha256', secret: key.secret.toString('base64') } });
  }));
}

const serialOf = async (port: number): Promise<number> => Number((await query(port, ORIGIN, 'SOA')).answer[0]?.rdata.split(' ')[2]);

async function waitForSerial(port: number, serial: number, timeoutMs: number, label: string, output?: () => string): Promise<number> {
  const start = Date.now();
  let last = NaN;
  while (Date.now() - start < timeoutMs) {
    try { last = await serialOf(port); } catch { /* not up yet */ }
    if (last === serial) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${label} still at serial ${last}, not ${serial}, after ${timeoutMs} ms\n${output?.() ?? ''}`);
}

describe('NOTIFY from this module makes real BIND and Knot secondaries of roamdns transfer at once', () => {
  let dir: string;
  let roam: RoamdnsServer;
  let key: Awaited<ReturnType<typeof tsigKeygen>>;
  let serial = 1;
  const secondaries: ReferenceServer[] = [];
  let notifier: Notifier | undefined;

  /** Bumps the serial in the zone file and waits until roamdns serves it (file watch reload). */
  async function bumpZone(): Promise<number> {
    serial++;
    await writeFile(path.join(dir, 'example.org.zone'), zoneText(serial, [`new${serial} TXT "serial ${serial}"`]));
    await waitForSerial(roam.port, serial, 10_000, 'roamdns', () => roam.proc.output());
    return serial;
  }

  beforeAll(async () => {
    key = await tsigKeygen('notify-key');
    dir = await makeTempDir('roamdns-notify');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'example.org.zone'), zoneText(serial));
    roam = await startRoamdns({ zones: dir });
  }, 60_000);
  afterEach(() => { notifier?.close(); notifier = undefined; });
  afterAll(async () => {
    await Promise.all(secondaries.map((s) => s.stop()));
    await roam?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('BIND: a TSIG-signed NOTIFY is acked (signed) and the new serial is served within seconds; without it, nothing', async () => {
    const sec = await startBindSecondary({ origin: ORIGIN, primaryPort: roam.port, tsig: key.spec, transferKey: false, waitMs: 20_000 });
    secondaries.push(sec);
    expect(await serialOf(sec.port)).toBe(serial);
    const next = await bumpZone();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await serialOf(sec.port)).toBe(next - 1); // the control: its refresh is an hour away
    notifier = new Notifier({ targets: [{ host: '127.0.0.1', port: sec.port }], tsig: key.key }, { transport: udpTransport({ ipv4: '127.0.0.1' }) });
    const soa = SOA_RDATA(next);
    const [r] = await notifier.notify(ORIGIN, next, soa);
    expect(r).toMatchObject({ result: 'acked', tries: 1 });
    const tookMs = await waitForSerial(sec.port, next, 10_000, 'BIND secondary', () => sec.output());
    expect(tookMs).toBeLessThan(5000);
    expect((await query(sec.port, `new${next}.example.org`, 'TXT')).answer.length).toBe(1);
  }, 60_000);

  it('BIND: a NOTIFY signed with a key it does not know is refused (rejected, no transfer)', async () => {
    const sec = secondaries[0]!;
    const stranger = (await tsigKeygen('stranger')).key;
    notifier = new Notifier({ targets: [{ host: '127.0.0.1', port: sec.port }], tsig: stranger }, { transport: udpTransport({ ipv4: '127.0.0.1' }) });
    const next = await bumpZone();
    const [r] = await notifier.notify(ORIGIN, next);
    expect(r).toMatchObject({ result: 'rejected', rcode: 9 }); // NOTAUTH, BADKEY
    await new Promise((res) => setTimeout(res, 1500));
    expect(await serialOf(sec.port)).toBe(next - 1);
  }, 60_000);

  it('Knot requiring the key on NOTIFY: an unsigned NOTIFY is refused, a signed one triggers the transfer', async () => {
    const sec = await startKnotSecondary({ origin: ORIGIN, primaryPort: roam.port, tsig: key.spec, transferKey: false, notifyKey: true, waitMs: 20_000 });
    secondaries.push(sec);
    expect(await serialOf(sec.port)).toBe(serial);
    const next = await bumpZone();
    notifier = new Notifier({ targets: [{ host: '127.0.0.1', port: sec.port }], tries: 2, timeoutMs: 500 }, { transport: udpTransport({ ipv4: '127.0.0.1' }) });
    const [unsigned] = await notifier.notify(ORIGIN, next);
    expect(unsigned!.result).not.toBe('acked');
    await new Promise((res) => setTimeout(res, 1000));
    expect(await serialOf(sec.port)).toBe(next - 1);
    notifier.close();
    notifier = new Notifier({ targets: [{ host: '127.0.0.1', port: sec.port }], tsig: key.key }, { transport: udpTransport({ ipv4: '127.0.0.1' }) });
    const [signed] = await notifier.notify(ORIGIN, next, SOA_RDATA(next));
    expect(signed).toMatchObject({ result: 'acked', tries: 1 });
    expect(await waitForSerial(sec.port, next, 10_000, 'Knot secondary', () => sec.output())).toBeLessThan(5000);
  }, 60_000);
});

// ---- roamdns serve -----------------------------------------------------------------

describe('roamdns serve with dns.notify and dns.notify_key', () => {
  let dir: string;
  let roam: Awaited<ReturnType<typeof startServeWithDns>>;
  let key: Awaited<ReturnType<typeof tsigKeygen>>;
  const secs: ReferenceServer[] = [];
  let bindPort: number, knotPort: number;

  beforeAll(async () => {
    key = await tsigKeygen('notify-key');
    dir = await makeTempDir('roamdns-notify-wired');
    await writeFile(path.join(dir, 'example.org.zone'), zoneText(1));
    // The secondaries' ports are chosen first: roamdns must know where to send NOTIFY.
    [bindPort, knotPort] = [await freePort(), await freePort()];
    roam = await startServeWithDns({ zoneFiles: [path.join(dir, 'example.org.zone')], readyZone: ORIGIN, dns: [
      `notify: [127.0.0.1:${bindPort}, 127.0.0.1:${knotPort}]`, 'notify_key: notify-key',
      'tsig_keys:', `  notify-key: { algorithm: hmac-sha256, secret: "${key.spec.secret}" }`,
    ] });
    secs.push(await startBindSecondary({ origin: ORIGIN, primaryPort: roam.port, port: bindPort, tsig: key.spec, transferKey: false, waitMs: 20_000 }));
    secs.push(await startKnotSecondary({ origin: ORIGIN, primaryPort: roam.port, port: knotPort, tsig: key.spec, transferKey: false, notifyKey: true, waitMs: 20_000 }));
  }, 90_000);
  afterAll(async () => { await Promise.all(secs.map((s) => s.stop())); await roam?.stop(); await rm(dir, { recursive: true, force: true }); }, 30_000);

  it('a reload that changes the serial makes BIND and Knot (which requires the key) transfer within seconds', async () => {
    for (const s of secs) expect(await serialOf(s.port)).toBe(1);
    await writeFile(path.join(dir, 'example.org.zone'), zoneText(2, ['new TXT "after notify"']));
    for (const s of secs) expect(await waitForSerial(s.port, 2, 10_000, `${s.kind} secondary`, () => s.output() + roam.proc.output())).toBeLessThan(6000);
  }, 60_000);

  it('a reload that keeps the serial sends nothing: the secondaries stay where they are', async () => {
    await writeFile(path.join(dir, 'example.org.zone'), zoneText(2, ['new TXT "after notify"', 'quiet TXT "same serial"']));
    await new Promise((r) => setTimeout(r, 2000));
    for (const s of secs) expect((await query(s.port, 'quiet.example.org', 'TXT')).rcodeName).toBe('NXDOMAIN');
  }, 30_000);
});

// Outgoing full zone transfer (RFC 5936): SOA, every other record, SOA again, packed into
// as few TCP messages as fit in 64 KiB each; the question appears in the first message only.
import { BlockList, isIP } from 'node:net';
import { keyToLabels } from './name.js';
import { RRType } from './rr.js';
import { renderError } from './response.js';
import { ResponseWriter, Rcode, type Query, type WireRecord } from './wire.js';
import { zoneRecords, type Zone, type ZoneSet } from './zone.js';

const MAX_MESSAGE = 65535;

/** An address allow-list from CIDR strings ("127.0.0.1/32", "::1/128", "10.0.0.0/8" or a bare address). */
export class AddressList {
  private readonly list = new BlockList();

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, len] = c.split('/');
      const family = isIP(addr ?? '');
      if (family === 0) throw new Error(`'${c}' is not an address or CIDR prefix`);
      const max = family === 4 ? 32 : 128;
      const prefix = len === undefined ? max : Number(len);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`'${c}': prefix length must be 0..${max}`);
      this.list.addSubnet(addr!, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  has(address: string): boolean {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (v4) return this.list.check(v4[1]!, 'ipv4');
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

function* transferRecords(zone: Zone): Generator<WireRecord> {
  const soa = zone.soa;
  const soaRecord: WireRecord = { owner: zone.originLabels, type: RRType.SOA, klass: 1, ttl: soa.ttlSeconds, rdata: soa.rdatas[0]! };
  yield soaRecord;
  for (const rr of zoneRecords(zone)) {
    if (rr.type === RRType.SOA && rr.owner === zone.origin) continue;
    yield { owner: keyToLabels(rr.owner), type: rr.type, klass: 1, ttl: rr.ttlSeconds, rdata: rr.rdata };
  }
  yield soaRecord;
}

/**
 * The messages of an AXFR answer to `query`, or a single error message:
 * NOTAUTH when we are not authoritative for exactly that name (RFC 5936 §2.2.1), REFUSED when not allowed.
 */
export function axfrMessages(zones: ZoneSet, query: Query, allowed: boolean, reserveBytes = 0): { rcode: number; messages: Buffer[] } {
  const zone = zones.zones.get(query.qkey);
  if (!allowed || !zone) {
    const rcode = !allowed ? Rcode.REFUSED : zones.find(query.qkey) ? Rcode.NOTAUTH : Rcode.REFUSED;
    return { rcode, messages: [renderError({ ...query, rcode }, 'tcp')] };
  }
  const messages: Buffer[] = [];
  let w = startMessage(query, true, reserveBytes);
  let count = 0;
  for (const rr of transferRecords(zone)) {
    if (!w.record(rr)) {
      messages.push(endMessage(w, query, count, messages.length === 0));
      w = startMessage(query, false, reserveBytes);
      count = 0;
      if (!w.record(rr)) throw new Error('record larger than a TCP message');
    }
    count++;
  }
  messages.push(endMessage(w, query, count, messages.length === 0));
  return { rcode: Rcode.NOERROR, messages };
}

/** `reserveBytes` stay free for what is appended after packing (a TSIG: tsigOverhead()). */
function startMessage(query: Query, withQuestion: boolean, reserveBytes: number): ResponseWriter {
  const w = new ResponseWriter(MAX_MESSAGE - (query.edns ? 11 : 0) - reserveBytes, MAX_MESSAGE);
  if (withQuestion) w.question(query.qlabels, query.qtype, query.qclass);
  return w;
}

function endMessage(w: ResponseWriter, query: Query, count: number, first: boolean): Buffer {
  let ar = 0;
  if (query.edns) {
    w.limit = MAX_MESSAGE;
    if (w.opt(1232, 0, false)) ar = 1;
  }
  const flags = 0x8000 | 0x0400 | (query.rd ? 0x0100 : 0);
  w.header(query.id, flags, [first ? 1 : 0, count, 0, ar]);
  return w.finish();
}

// Semantic zone checks as `named-checkzone` makes them (BIND lib/dns/master.c, rbtdb.c and
// zone.c): out-of-zone data, RRset merging, SOA and NS at the apex, singleton types, CNAME
// and other data, and in-zone NS targets that must have addresses. loadZoneFile = parse + check.
import { isSubdomain, labelsToKey, parseName } from './name.js';
import { RRType, readUncompressedName, soaFields, typeName, type ResourceRecord } from './rr.js';
import { CNAME_COMPANIONS, SINGLETON_TYPES } from './rr-mnemonics.js';
import { canonicalRdataKey } from './rdata-wire.js';
import { type ParseOptions, type ParsedZone, parseZoneFile } from './zone-parser.js';
import { ProblemList, type ZoneProblem } from './zone-state.js';
import { type ZoneIndex, ZoneNode, buildIndex, findAddress } from './zone-index.js';
import { targetWarnings } from './zone-check-targets.js';

type Report = (rr: Pick<ResourceRecord, 'file' | 'line'>, severity: ZoneProblem['severity'], code: string, message: string) => void;

/** Validates a parsed zone; returns its in-zone records (duplicates merged) and all problems. */
export function checkZone(parsed: ParsedZone): ParsedZone {
  const problems = new ProblemList(parsed.problems);
  const report: Report = (rr, severity, code, message) => problems.add({ file: rr.file ?? '', line: rr.line ?? 0, severity, code, message });
  const origin = parsed.origin;
  const inZone = new Uint8Array(parsed.records.length);
  parsed.records.forEach((rr, i) => {
    if (isSubdomain(rr.owner, origin)) inZone[i] = 1;
    else report(rr, 'warning', 'out-of-zone', `ignoring out-of-zone data (${rr.owner} is not in ${origin})`);
  });
  const { records, nodes } = mergeRRsets(parsed.records, inZone, report);
  const z = buildIndex(origin, labelsOf(origin).length, nodes);
  // With no record at all, zone-wide problems name the file (line 0: the whole file).
  const firstLine = records[0] ?? parsed.records[0] ?? { file: parsed.file ?? '', line: 0 };
  checkApex(z, firstLine, report);
  for (const [owner, node] of z.nodes) checkNode(owner, node, origin, report);
  checkApexNsTargets(z, report);
  targetWarnings(z, report);
  return { origin, file: parsed.file, records, problems: problems.list };
}

/** Parses and checks one zone file. The zone is usable iff no problem has severity 'error'. */
export function loadZoneFile(file: string, opts: ParseOptions = {}): ParsedZone {
  return checkZone(parseZoneFile(file, opts));
}

/** True when the zone has no error (warnings allowed). */
export function isUsable(zone: ParsedZone): boolean {
  return !zone.problems.some((p) => p.severity === 'error');
}

/** The serial of the zone's SOA record, if it has one at the apex. */
export function zoneSerial(zone: ParsedZone): number | undefined {
  const soa = zone.records.find((rr) => rr.type === RRType.SOA && rr.owner === zone.origin);
  return soa ? soaFields(soa.rdata).serial : undefined;
}

function labelsOf(key: string): string[] {
  return key === '.' ? [] : parseName(key, null);
}

/**
 * Duplicates are merged silently by BIND; we warn. TTLs of one RRset: within a run of lines with
 * the same owner BIND keeps the first TTL ("TTL set to prior TTL"); when the RRset comes back
 * later in the file, the later run's TTL replaces the earlier one. We do the same, with warnings.
 */
function mergeRRsets(all: ResourceRecord[], inZone: Uint8Array, report: Report): { records: ResourceRecord[]; nodes: Map<string, ZoneNode> } {
  const blockOf = loadBlocks(all);
  // Owner -> its records by type (the index the checks run on, built in the same pass) and,
  // in step with its types, what the merge needs to know of each RRset. RDATA keys are made
  // only once an RRset has a second record: most have one, and a million keys cost seconds.
  const nodes = new Map<string, MergeNode>();
  const kept: ResourceRecord[] = [];
  const keptIn: MergeSet[] = [];
  for (let i = 0; i < all.length; i++) {
    if (!inZone[i]) continue;
    const rr = all[i]!;
    const node = nodes.get(rr.owner);
    const at = node ? node.types.indexOf(rr.type) : -1;
    if (at < 0) {
      const fresh: MergeSet = { ttl: rr.ttlSeconds, block: blockOf[i]!, first: rr };
      if (!node) nodes.set(rr.owner, new MergeNode(rr, fresh));
      else {
        node.types.push(rr.type);
        node.sets.push([rr]);
        node.merge.push(fresh);
      }
      kept.push(rr);
      keptIn.push(fresh);
      continue;
    }
    const set = node!.merge[at]!;
    if (rr.ttlSeconds !== set.ttl) {
      const sameRun = set.block === blockOf[i];
      report(rr, 'warning', 'ttl-mismatch', `${rr.owner} ${typeName(rr.type)}: TTL ${rr.ttlSeconds} differs from the RRset's TTL ${set.ttl} (line ${set.first.line}); ` +
        (sameRun ? `using ${set.ttl} for the whole RRset as BIND does` : `BIND uses the later TTL ${rr.ttlSeconds} for the whole RRset`));
      if (!sameRun) set.ttl = rr.ttlSeconds;
    }
    set.block = blockOf[i]!;
    set.keys ??= new Set([canonicalRdataKey(set.first.type, set.first.rdata)]);
    const key = canonicalRdataKey(rr.type, rr.rdata);
    if (set.keys.has(key)) {
      report(rr, 'warning', 'duplicate-record', `${rr.owner} ${typeName(rr.type)}: duplicate of a record on line ${set.first.line}; ignored`);
      continue;
    }
    set.keys.add(key);
    node!.sets[at]!.push(rr);
    kept.push(rr);
    keptIn.push(set);
  }
  // The checks do not look at TTLs: the index keeps the records as read.
  const records = kept.map((rr, i) => (rr.ttlSeconds === keptIn[i]!.ttl ? rr : { ...rr, ttlSeconds: keptIn[i]!.ttl }));
  return { records, nodes };
}

interface MergeSet { ttl: number; block: number; first: ResourceRecord; keys?: Set<string> }

/** An index node with the merge state of each of its RRsets (in step with `types`). */
class MergeNode extends ZoneNode {
  readonly merge: MergeSet[];
  constructor(first: ResourceRecord, set: MergeSet) {
    super(first);
    this.merge = [set];
  }
}

/**
 * BIND's loader batches consecutive lines of one owner (one file) and commits them together;
 * lines for a name that the batch's NS records point at are glue and do not end the batch
 * (master.c is_glue). Returns the batch number of each record (by its index).
 */
function loadBlocks(all: ResourceRecord[]): Int32Array {
  const blockOf = new Int32Array(all.length);
  let block = 0;
  let cur: { owner: string; file?: string; id: number; nsTargets: Set<string> } | undefined;
  let glue: { owner: string; file?: string; id: number } | undefined;
  for (let i = 0; i < all.length; i++) {
    const rr = all[i]!;
    if (glue && (glue.owner !== rr.owner || glue.file !== rr.file)) glue = undefined;
    if (!glue && cur && cur.file === rr.file && cur.owner !== rr.owner && cur.nsTargets.has(rr.owner)) {
      glue = { owner: rr.owner, file: rr.file, id: ++block };
    }
    if (glue) {
      blockOf[i] = glue.id;
      continue;
    }
    if (!cur || cur.owner !== rr.owner || cur.file !== rr.file) cur = { owner: rr.owner, file: rr.file, id: ++block, nsTargets: new Set() };
    if (rr.type === RRType.NS) cur.nsTargets.add(labelsToKey(readUncompressedName(rr.rdata, 0).labels));
    blockOf[i] = cur.id;
  }
  return blockOf;
}

/** RFC 1035 §5.2: exactly one SOA, at the top of the zone; RFC 1034 §4.2.1: NS records there too. */
function checkApex(z: ZoneIndex, where: Pick<ResourceRecord, 'file' | 'line'>, report: Report): void {
  const apex = z.nodes.get(z.apex);
  if (!apex?.has(RRType.SOA)) report(where, 'error', 'no-soa', `zone ${z.apex} has no SOA record at its apex`);
  if (!apex?.has(RRType.NS)) report(apex?.get(RRType.SOA)?.[0] ?? where, 'error', 'no-ns', `zone ${z.apex} has no NS records at its apex`);
}

function checkNode(owner: string, node: ZoneNode, origin: string, report: Report): void {
  const first = (type: number): ResourceRecord => node.get(type)![0]!;
  if (node.has(RRType.SOA) && owner !== origin) {
    report(first(RRType.SOA), 'error', 'soa-not-at-apex', `SOA record not at top of zone (${owner}; the zone is ${origin})`);
  }
  if (node.has(RRType.DS) && owner === origin) {
    report(first(RRType.DS), 'error', 'ds-at-apex', `DS record at top of zone (${owner}); DS belongs in the parent zone (RFC 4034 §5)`);
  }
  if (node.has(RRType.NS) && owner.startsWith('*.')) {
    report(first(RRType.NS), 'error', 'wildcard-ns', `NS records may not be owned by a wildcard name (${owner}, RFC 4592 §4.2)`);
  }
  for (let i = 0; i < node.types.length; i++) {
    const type = node.types[i]!, set = node.sets[i]!;
    if (SINGLETON_TYPES.has(type) && set.length > 1) {
      report(set[1]!, 'error', 'multiple-singleton', `${owner} has ${set.length} different ${typeName(type)} records; only one is allowed (RFC 2181 §10.1)`);
    }
  }
  const others = node.has(RRType.CNAME) ? node.types.filter((t) => t !== RRType.CNAME && !CNAME_COMPANIONS.has(t)) : [];
  if (others.length > 0) {
    report(first(RRType.CNAME), 'error', 'cname-and-other-data', `${owner} has a CNAME and other data (${others.map(typeName).join(', ')}); a CNAME must be alone (RFC 1034 §3.6.2)`);
  }
}

/** BIND zone_check_ns: every in-zone target of the apex NS RRset must resolve to A or AAAA. */
function checkApexNsTargets(z: ZoneIndex, report: Report): void {
  for (const ns of z.nodes.get(z.apex)?.get(RRType.NS) ?? []) {
    const target = readUncompressedName(ns.rdata, 0).labels;
    const key = labelsToKey(target);
    if (!isSubdomain(key, z.apex)) continue;
    const r = findAddress(z, target);
    if (r.kind === 'found' || r.kind === 'delegation') continue;
    const why = r.kind === 'cname' ? 'is a CNAME (illegal, RFC 2181 §10.3)'
      : r.kind === 'dname' ? `is below the DNAME at ${r.at} (illegal)`
      : 'has no address records (A or AAAA) in the zone';
    report(ns, 'error', 'ns-target', `NS '${key}' ${why}`);
  }
}

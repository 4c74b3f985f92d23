// Warnings (never errors, as in named-checkzone's defaults) about in-zone targets: MX and SRV
// targets without addresses or that are CNAMEs (RFC 2181 §10.3), and delegations whose
// in-zone name servers lack glue (RFC 1034 §4.2.1). BIND zone.c integrity_checks().
import { isSubdomain, keyToLabels, labelsToKey } from './name.js';
import { RRType, rdataTarget, type ResourceRecord } from './rr.js';
import { type ZoneIndex, findAddress, isOccluded } from './zone-index.js';
import type { ZoneProblem } from './zone-state.js';

type Report = (rr: ResourceRecord, severity: ZoneProblem['severity'], code: string, message: string) => void;

export function targetWarnings(z: ZoneIndex, report: Report): void {
  for (const [owner, node] of z.nodes) {
    const delegation = owner !== z.apex && node.has(RRType.NS);
    if (!delegation && !node.has(RRType.MX) && !node.has(RRType.SRV)) continue; // nothing to check: skip the walk
    if (isOccluded(z, keyToLabels(owner))) continue;
    if (delegation) {
      for (const ns of node.get(RRType.NS)!) checkGlue(z, owner, ns, report);
      continue;
    }
    for (const rr of [...(node.get(RRType.MX) ?? []), ...(node.get(RRType.SRV) ?? [])]) checkService(z, owner, rr, report);
  }
}

/** MX/SRV targets inside the zone should have an address and must not be CNAMEs. */
function checkService(z: ZoneIndex, owner: string, rr: ResourceRecord, report: Report): void {
  const target = rdataTarget(rr);
  if (!target || target.length === 0) return; // "." means "no service" (RFC 7505, RFC 2782)
  const key = labelsToKey(target);
  if (!isSubdomain(key, z.apex)) return;
  const what = rr.type === RRType.MX ? 'MX' : 'SRV';
  const r = findAddress(z, target);
  if (r.kind === 'cname') report(rr, 'warning', 'target-is-cname', `${owner}/${what} '${key}' is a CNAME (illegal, RFC 2181 §10.3)`);
  else if (r.kind === 'dname') report(rr, 'warning', 'target-below-dname', `${owner}/${what} '${key}' is below the DNAME at ${r.at}`);
  else if (r.kind !== 'found' && r.kind !== 'delegation') report(rr, 'warning', 'target-no-address', `${owner}/${what} '${key}' has no address records (A or AAAA)`);
}

/** A delegation to a server inside this zone needs its addresses here as glue. */
function checkGlue(z: ZoneIndex, owner: string, ns: ResourceRecord, report: Report): void {
  const target = rdataTarget(ns)!;
  const key = labelsToKey(target);
  if (!isSubdomain(key, z.apex)) return;
  const node = z.nodes.get(key);
  if (node?.has(RRType.A) || node?.has(RRType.AAAA)) return;
  if (!isSubdomain(key, owner) && findAddress(z, target).kind === 'found') return;
  const what = isSubdomain(key, owner) ? 'required glue' : 'address records';
  report(ns, 'warning', 'missing-glue', `${owner}/NS '${key}' has no ${what} (A or AAAA) in the zone`);
}

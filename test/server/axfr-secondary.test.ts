// Zone transfer (RFC 5936) against real secondaries: BIND and Knot, configured with roamdns
// as their primary, must pull the zone by AXFR and then serve the same data; a client
// outside dns.transfer_allow (127.0.0.2 here) must get REFUSED.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBind, startKnot, type ReferenceServer } from '../helpers/reference.js';
import { axfr, query, REPO_ROOT, rrText, startRoamdns, type DnsResponse, type RoamdnsServer } from '../helpers/roamdns.js';

const ZONE_DIR = path.join(REPO_ROOT, 'test/fixtures/zones/diff');
const ORIGIN = 'example.com.';

/** Names to compare at the secondaries: plain, CNAME chain, wildcard, referral, large, odd types. */
const PROBES: [string, string][] = [
  ['example.com', 'SOA'], ['example.com', 'NS'], ['www.example.com', 'A'], ['portal.example.com', 'A'],
  ['foo.wild.example.com', 'TXT'], ['nothing.example.com', 'A'], ['www.child.example.com', 'A'],
  ['txt.example.com', 'TXT'], ['opaque.example.com', 'TYPE65534'], ['caa.example.com', 'CAA'],
  ['big.example.com', 'A'], ['bigtxt.example.com', 'TXT'], ['app.svc.example.com', 'A'],
];

const soaSerial = (r: DnsResponse): number => Number(r.answer.find((a) => a.type === 'SOA')?.rdata.split(' ')[2]);
const sortedTexts = (rrs: DnsResponse['answer']): string[] => rrs.map(rrText).sort();
/** The zone as a set: AXFR repeats the SOA at the end (RFC 5936 §2.2), so drop duplicates. */
const zoneSet = (rrs: DnsResponse['answer']): string[] => [...new Set(sortedTexts(rrs))];

describe('AXFR: BIND and Knot secondaries of roamdns', () => {
  let roam: RoamdnsServer | null = null;
  const secondaries: ReferenceServer[] = [];

  beforeAll(async () => {
    // 127.0.0.2 is left out of transfer_allow on purpose.
    roam = await startRoamdns({ zones: [path.join(ZONE_DIR, 'example.com.zone')], transferAllow: ['127.0.0.1/32'] });
  }, 30_000);
  afterAll(async () => { await Promise.all(secondaries.map((s) => s.stop())); await roam?.stop(); }, 30_000);

  it('gives the whole zone by AXFR over TCP to an allowed client', async () => {
    const res = await axfr(roam!.port, ORIGIN);
    expect(res.rcode).toBe('NOERROR');
    expect(res.records[0]?.type).toBe('SOA');
    expect(res.records[res.records.length - 1]?.type).toBe('SOA');
    expect(zoneSet(res.records).length).toBeGreaterThan(100);
  });

  it('refuses AXFR to a client outside transfer_allow (127.0.0.2)', async () => {
    const res = await axfr(roam!.port, ORIGIN, { localAddress: '127.0.0.2' });
    expect(res.rcode).toBe('REFUSED');
    expect(res.records.filter((r) => r.type !== 'SOA')).toEqual([]);
  });

  it('still answers ordinary queries from 127.0.0.2', async () => {
    const r = await query(roam!.port, 'www.example.com', 'A', { localAddress: '127.0.0.2' });
    expect(r.rcodeName).toBe('NOERROR');
    expect(r.answer.length).toBe(3);
  });

  for (const [kind, start] of [['BIND', startBind], ['Knot', startKnot]] as const) {
    it(`${kind} secondary transfers the zone and serves the same data`, async () => {
      const sec = await start({ secondaries: [{ origin: ORIGIN, primaryPort: roam!.port }], waitMs: 20_000 });
      secondaries.push(sec);
      const [primarySoa, secondarySoa] = await Promise.all([query(roam!.port, ORIGIN, 'SOA'), query(sec.port, ORIGIN, 'SOA')]);
      expect(secondarySoa.flags.aa).toBe(true);
      expect(soaSerial(secondarySoa)).toBe(soaSerial(primarySoa));

      const problems: string[] = [];
      for (const [name, type] of PROBES) {
        const [p, s] = await Promise.all([query(roam!.port, name, type, { transport: 'tcp' }), query(sec.port, name, type, { transport: 'tcp' })]);
        const pa = sortedTexts(p.answer), sa = sortedTexts(s.answer);
        if (p.rcode !== s.rcode || p.flags.aa !== s.flags.aa || JSON.stringify(pa) !== JSON.stringify(sa)) {
          problems.push(`${name} ${type}: roamdns ${p.rcodeName} aa=${+p.flags.aa} ${JSON.stringify(pa)}; ${kind} ${s.rcodeName} aa=${+s.flags.aa} ${JSON.stringify(sa)}`);
        }
      }
      expect(problems, problems.join('\n')).toEqual([]);

      // The secondary's own copy, transferred back out of it, is the zone roamdns serves.
      const [fromRoam, fromSec] = await Promise.all([axfr(roam!.port, ORIGIN), axfr(sec.port, ORIGIN)]);
      expect(fromSec.rcode).toBe('NOERROR');
      expect(zoneSet(fromSec.records)).toEqual(zoneSet(fromRoam.records));
    }, 60_000);
  }
});

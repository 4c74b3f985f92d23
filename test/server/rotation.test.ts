// Round-robin (issue 2): every multi-record RRset rotates by one record per answer, like BIND's
// `rrset-order cyclic`, so the first address a client population sees is spread evenly.
// Queried with dns2, the project's DNS library, so that a third-party client reads our answers.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import dns2 from 'dns2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTempDir, startRoamdns, type RoamdnsServer } from '../helpers/roamdns.js';

const QUERIES = 1000;
const ZONE = [
  '$ORIGIN rr.test.', '$TTL 300',
  '@ SOA ns1 hostmaster 1 3600 600 1209600 60', '@ NS ns1', 'ns1 A 192.0.2.1',
  'two A 192.0.2.21', 'two A 192.0.2.22',
  'four A 198.51.100.1', 'four A 198.51.100.2', 'four A 198.51.100.3', 'four A 198.51.100.4',
  'mx MX 10 a.mx', 'mx MX 20 b.mx', 'mx MX 30 c.mx', '',
].join('\n');

const CASES: { qname: string; addresses: string[] }[] = [
  { qname: 'two.rr.test', addresses: ['192.0.2.21', '192.0.2.22'] },
  { qname: 'four.rr.test', addresses: ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'] },
];

describe('round-robin rotation seen through dns2', () => {
  let server: RoamdnsServer;
  let dir: string;
  let udp: ReturnType<typeof dns2.UDPClient>;
  let tcp: ReturnType<typeof dns2.TCPClient>;

  beforeAll(async () => {
    dir = await makeTempDir('roamdns-rotation');
    await writeFile(path.join(dir, 'rr.test.zone'), ZONE);
    server = await startRoamdns({ zones: [path.join(dir, 'rr.test.zone')], extraYaml: 'log:\n  level: warn\n' });
    // `dns` must always be given: dns2 defaults to 8.8.8.8 (network rule: loopback only).
    udp = dns2.UDPClient({ dns: '127.0.0.1', port: server.port, timeout: 2000, retryOverTCP: false });
    tcp = dns2.TCPClient({ dns: '127.0.0.1', port: server.port });
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const { qname, addresses } of CASES) {
    test(`${QUERIES} UDP queries for ${qname} (${addresses.length} A records): the first record is spread evenly and rotates cyclically`, async () => {
      const first = new Map(addresses.map((a) => [a, 0]));
      const orders: string[][] = [];
      for (let i = 0; i < QUERIES; i++) {
        const res = await udp(qname, 'A', 1, { recursive: false });
        expect(res.header.rcode, `query ${i}`).toBe(0);
        expect(res.header.aa, `query ${i}: AA`).toBe(1);
        const got = res.answers.map((a) => (a as { address?: string }).address ?? '?');
        expect([...got].sort(), `query ${i}: every record, each once`).toEqual([...addresses].sort());
        first.set(got[0]!, first.get(got[0]!)! + 1);
        orders.push(got);
      }
      console.info(`rotation ${qname}: first record over ${QUERIES} answers ${JSON.stringify(Object.fromEntries(first))}`);
      // Each within ±2 % of the even share; a cyclic rotation makes it exact.
      const share = QUERIES / addresses.length;
      for (const [addr, n] of first) expect(Math.abs(n - share), `${addr} came first ${n} times of ${QUERIES}`).toBeLessThanOrEqual(share * 0.02);
      // Cyclic: every answer is the previous one rotated by one record (nobody else queries this name).
      for (let i = 1; i < orders.length; i++) {
        expect(orders[i], `answer ${i} after ${orders[i - 1]!.join(',')}`).toEqual([...orders[i - 1]!.slice(1), orders[i - 1]![0]]);
      }
    });
  }

  test(`a client population: ${QUERIES} queries for four.rr.test, 25 in flight at once, spread evenly`, async () => {
    const first = new Map(CASES[1]!.addresses.map((a) => [a, 0]));
    let next = 0;
    await Promise.all(Array.from({ length: 25 }, async () => {
      while (next < QUERIES) {
        next++;
        const res = await udp('four.rr.test', 'A', 1, { recursive: false });
        const a = (res.answers[0] as { address?: string } | undefined)?.address ?? '?';
        first.set(a, (first.get(a) ?? 0) + 1);
      }
    }));
    console.info(`rotation four.rr.test, 25 clients: ${JSON.stringify(Object.fromEntries(first))}`);
    for (const [addr, n] of first) expect(Math.abs(n - QUERIES / 4), `${addr} came first ${n} times`).toBeLessThanOrEqual((QUERIES / 4) * 0.02);
  });

  test('TCP answers share the rotation, and other types (MX) rotate too', async () => {
    const a = await tcp('four.rr.test', 'A', 1, { recursive: false });
    const b = await tcp('four.rr.test', 'A', 1, { recursive: false });
    const order = (p: typeof a): string[] => p.answers.map((r) => (r as { address?: string }).address ?? '?');
    expect(order(a)).toHaveLength(4);
    expect(order(b)).toEqual([...order(a).slice(1), order(a)[0]]);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const mx = await udp('mx.rr.test', 'MX', 1, { recursive: false });
      expect(mx.answers).toHaveLength(3);
      seen.add(String((mx.answers[0] as { exchange?: string }).exchange));
    }
    expect([...seen].sort()).toEqual(['a.mx.rr.test', 'b.mx.rr.test', 'c.mx.rr.test']);
  });
});

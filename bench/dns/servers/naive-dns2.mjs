// @ts-check
// The naive baseline: a straightforward dns2 server that decodes every query into a packet
// object, looks the name up in a Map and encodes a response object, the way dns2's README
// suggests. It reads the same zone file with a small parser that knows only what the benchmark
// zone holds (A, AAAA, NS, CNAME, SOA; $ORIGIN, $TTL, parentheses, comments).
// Usage: node naive-dns2.mjs PORT ZONEFILE
import { readFileSync } from 'node:fs';
import dns2 from 'dns2';

const { Packet } = dns2;
const [port, zoneFile] = [Number(process.argv[2]), String(process.argv[3])];

/** name -> type -> resources (dns2's record objects, ready to push into a response) */
const zone = new Map();
/** @type {any} */
let soa = null;

function load() {
  const text = readFileSync(zoneFile, 'utf8').replace(/;[^\n]*/g, '');
  const joined = text.replace(/\([^)]*\)/g, (m) => m.slice(1, -1).replace(/\s+/g, ' '));
  let origin = '.';
  let ttl = 3600;
  let owner = '';
  const abs = (/** @type {string} */ n) => (n === '@' ? origin : n.endsWith('.') ? n : `${n}.${origin}`).replace(/\.$/, '').toLowerCase();
  for (const line of joined.split('\n')) {
    if (!line.trim()) continue;
    const f = line.trim().split(/\s+/);
    if (f[0] === '$ORIGIN') { origin = String(f[1]); continue; }
    if (f[0] === '$TTL') { ttl = Number(f[1]); continue; }
    if (!/^\s/.test(line)) owner = abs(String(f.shift()));
    if (f[0] === 'IN') f.shift();
    const [type, ...rdata] = /** @type {[string, ...string[]]} */ (f);
    const base = { name: owner, class: Packet.CLASS.IN, ttl };
    /** @type {any} */
    let rr;
    if (type === 'A' || type === 'AAAA') rr = { ...base, type: Packet.TYPE[type], address: rdata[0] };
    else if (type === 'NS' || type === 'CNAME') rr = { ...base, type: Packet.TYPE[type], ns: abs(String(rdata[0])), domain: abs(String(rdata[0])) };
    else if (type === 'SOA') {
      const [primary, admin, serial, refresh, retry, expiration, minimum] = rdata;
      rr = { ...base, type: Packet.TYPE.SOA, primary: abs(String(primary)), admin: abs(String(admin)), serial: Number(serial), refresh: Number(refresh), retry: Number(retry), expiration: Number(expiration), minimum: Number(minimum) };
      soa = rr;
    } else continue;
    if (!zone.has(owner)) zone.set(owner, new Map());
    const byType = zone.get(owner);
    if (!byType.has(rr.type)) byType.set(rr.type, []);
    byType.get(rr.type).push(rr);
  }
}

load();
const server = dns2.createServer({
  udp: true,
  handle: (/** @type {any} */ request, /** @type {(r: any) => void} */ send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    const q = request.questions[0];
    const node = q ? zone.get(String(q.name).toLowerCase()) : undefined;
    if (!node) {
      response.header.rcode = 3; // NXDOMAIN, SOA in authority (RFC 2308)
      response.authorities.push({ ...soa, ttl: Math.min(soa.ttl, soa.minimum) });
    } else if (node.has(q.type)) {
      response.answers.push(...node.get(q.type));
    } else if (node.has(Packet.TYPE.CNAME)) {
      const cname = node.get(Packet.TYPE.CNAME)[0];
      response.answers.push(cname, ...(zone.get(cname.domain)?.get(q.type) ?? []));
    } else {
      response.authorities.push({ ...soa, ttl: Math.min(soa.ttl, soa.minimum) }); // NODATA
    }
    send(response);
  },
});
server.listen({ udp: { port, address: '127.0.0.1' } });
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

// The whole-system client: every INTERVAL ms asks the DNS server for NAME A (plain UDP, no cache),
// then fetches http://VIP/ from every VIP in the answer (50 ms timeout, a new connection each time).
// Prints `<epoch ms> dns <vip,vip,...|-> <rcode> <ttl>` and `<epoch ms> get <vip> ok|fail <what>`.
// Stops by itself after DURATION ms or on SIGTERM.
import dgram from 'node:dgram';
import http from 'node:http';

const [server, name, intervalArg = '20', durationArg = '600000'] = process.argv.slice(2);
const interval = Number(intervalArg), duration = Number(durationArg);
const started = Date.now();
let stopping = false;
let id = 1;

function query(qname) {
  const labels = qname.replace(/\.$/, '').split('.');
  const q = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
  const myId = id = (id + 1) & 0xffff;
  q.writeUInt16BE(myId, 0);
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const t = setTimeout(() => { sock.close(); resolve({ rcode: 'timeout', vips: [], ttl: 0 }); }, 200);
    sock.on('message', (m) => {
      if (m.readUInt16BE(0) !== myId) return;
      clearTimeout(t);
      sock.close();
      const rcode = m[3] & 0xf, an = m.readUInt16BE(6);
      let o = 12;
      while (m[o] !== 0) o += m[o] + 1; // question name (uncompressed)
      o += 5;
      const vips = [];
      let ttl = 0;
      for (let i = 0; i < an; i++) {
        if ((m[o] & 0xc0) === 0xc0) o += 2; else { while (m[o] !== 0) o += m[o] + 1; o += 1; }
        const type = m.readUInt16BE(o), rdlen = m.readUInt16BE(o + 8);
        ttl = m.readUInt32BE(o + 4);
        if (type === 1) vips.push([...m.subarray(o + 10, o + 14)].join('.'));
        o += 10 + rdlen;
      }
      resolve({ rcode, vips, ttl });
    });
    sock.send(q, 53, server);
  });
}

function get(vip) {
  return new Promise((resolve) => {
    const req = http.get({ host: vip, port: 80, path: '/', agent: false, timeout: 50 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve([res.statusCode === 200, body.trim()]));
      res.on('error', () => resolve([false, 'error']));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve([false, e.code ?? 'error']));
  });
}

async function loop() {
  while (!stopping && Date.now() - started < duration) {
    const t0 = Date.now();
    const r = await query(name);
    process.stdout.write(`${Date.now()} dns ${r.vips.join(',') || '-'} ${r.rcode} ${r.ttl}\n`);
    await Promise.all(r.vips.map(async (vip) => {
      const [ok, what] = await get(vip);
      process.stdout.write(`${Date.now()} get ${vip} ${ok ? 'ok' : 'fail'} ${what}\n`);
    }));
    await new Promise((res) => setTimeout(res, Math.max(0, interval - (Date.now() - t0))));
  }
  process.exit(0);
}

process.on('SIGTERM', () => { stopping = true; });
loop();

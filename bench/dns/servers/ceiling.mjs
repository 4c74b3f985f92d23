// @ts-check
// Node's ceiling: the least a node:dgram DNS responder can do. Per query it finds the end of the
// question, copies header and question into a fresh buffer, sets QR/AA and the counts, and
// appends one prebuilt A record (name compressed to the question). No lookup, no parsing beyond
// the question name's labels. Usage: node ceiling.mjs PORT
import dgram from 'node:dgram';

const port = Number(process.argv[2]);
// Answer RR: name = pointer to offset 12 (the question name), A, IN, TTL 300, 127.0.0.1.
const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 127, 0, 0, 1]);
const sock = dgram.createSocket('udp4');

sock.on('message', (msg, rinfo) => {
  let end = 12;
  while (end < msg.length && msg[end] !== 0) end += /** @type {number} */ (msg[end]) + 1;
  end += 5; // root label, QTYPE, QCLASS
  if (msg.length < end) return;
  const out = Buffer.allocUnsafe(end + answer.length);
  msg.copy(out, 0, 0, end); // ID and question as asked
  out[2] = 0x84 | (/** @type {number} */ (msg[2]) & 0x01); // QR, AA, RD copied
  out[3] = 0;
  out.writeUInt32BE(0x00010001, 4); // QDCOUNT 1, ANCOUNT 1
  out.writeUInt32BE(0, 8); // NSCOUNT 0, ARCOUNT 0
  answer.copy(out, end);
  sock.send(out, rinfo.port, rinfo.address);
});
sock.bind(port, '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

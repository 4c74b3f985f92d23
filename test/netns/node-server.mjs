// A node's web service in the test bed: answers its node name on every address, port 80.
import http from 'node:http';

const name = process.argv[2] ?? 'node';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
  res.end(req.url === '/healthz' ? 'ok\n' : `${name}\n`);
}).listen(80, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));

// The test bed's client: polls every VIP over HTTP (a new TCP connection each time, so ARP
// matters) every INTERVAL ms, one request in flight per VIP, and prints one line per result:
// `<epoch ms> <vip> <ok|fail> <node|reason>`. Stops by itself after DURATION ms or on SIGTERM.
import http from 'node:http';

const [vipsArg, intervalArg = '10', durationArg = '600000', timeoutArg = '150'] = process.argv.slice(2);
const vips = vipsArg.split(',');
const interval = Number(intervalArg), duration = Number(durationArg), timeout = Number(timeoutArg);
const started = Date.now();
let stopping = false;

function poll(vip) {
  if (stopping || Date.now() - started > duration) return;
  const t0 = Date.now();
  const done = (ok, what) => {
    process.stdout.write(`${Date.now()} ${vip} ${ok ? 'ok' : 'fail'} ${what}\n`);
    setTimeout(() => poll(vip), Math.max(0, interval - (Date.now() - t0)));
  };
  const req = http.get({ host: vip, port: 80, path: '/', agent: false, timeout }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => done(res.statusCode === 200, res.statusCode === 200 ? body.trim() : `status-${res.statusCode}`));
    res.on('error', (e) => done(false, e.code ?? 'error'));
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => done(false, e.code ?? 'error'));
}

process.on('SIGTERM', () => { stopping = true; setTimeout(() => process.exit(0), 300); });
for (const v of vips) poll(v);
setTimeout(() => { stopping = true; setTimeout(() => process.exit(0), 300); }, duration).unref();

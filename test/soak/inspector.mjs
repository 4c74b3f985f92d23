// Talks to a Node process started with --inspect=127.0.0.1:PORT (in the same namespace) over the
// inspector protocol, prints one JSON line and exits. Loopback only; gives up after 15 s.
//   node --experimental-websocket inspector.mjs PORT heap       full GC, then {"usedSize","totalSize"}
//   node --experimental-websocket inspector.mjs PORT lag-start  installs an event-loop stall recorder
//   node --experimental-websocket inspector.mjs PORT lag-read   the stalls so far: [[epoch ms, stall ms, CPU ms], ...]
// The recorder ticks every 10 ms; a tick late by more than 20 ms is a stall, recorded with the CPU
// time the process used meanwhile (about the stall: busy on its own thread; about 0: not scheduled).
// (WebSocket is global from Node 22; Node 20 needs --experimental-websocket.)
const [portArg = '9229', action = 'heap'] = process.argv.slice(2);
setTimeout(() => { process.stderr.write('inspector.mjs: no answer within 15 s\n'); process.exit(2); }, 15_000);

const list = await (await fetch(`http://127.0.0.1:${Number(portArg)}/json/list`)).json();
const ws = new WebSocket(list[0].webSocketDebuggerUrl);
const pending = new Map();
let id = 0;
ws.onmessage = (e) => {
  const m = JSON.parse(String(e.data));
  pending.get(m.id)?.(m);
};
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
const call = (method, params = {}) => new Promise((resolve, reject) => {
  const i = ++id;
  pending.set(i, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
  ws.send(JSON.stringify({ id: i, method, params }));
});
const evaluate = async (expression) => {
  const r = await call('Runtime.evaluate', { expression, returnByValue: true });
  if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text} ${r.exceptionDetails.exception?.description ?? ''}`);
  return r.result.value;
};

const RECORDER = `(() => {
  if (globalThis.__soakStalls) return 'already';
  const stalls = globalThis.__soakStalls = [];
  let last = performance.now(), cpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now(), c = process.cpuUsage();
    const late = now - last - 10;
    if (late > 20 && stalls.length < 10000) stalls.push([Date.now(), Math.round(late), Math.round((c.user + c.system - cpu.user - cpu.system) / 1000)]);
    last = now; cpu = c;
  }, 10).unref();
  return 'installed';
})()`;

let out;
if (action === 'heap') {
  await call('HeapProfiler.collectGarbage');
  out = await call('Runtime.getHeapUsage');
} else if (action === 'lag-start') {
  out = await evaluate(RECORDER);
} else if (action === 'lag-read') {
  out = await evaluate('globalThis.__soakStalls ?? []');
} else {
  throw new Error(`unknown action ${action}`);
}
process.stdout.write(JSON.stringify(out) + '\n');
ws.close();
process.exit(0);

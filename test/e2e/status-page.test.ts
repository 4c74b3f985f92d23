// The status page (GET /) in a real browser: Debian's chromium, headless, driven by playwright-core
// (never a downloaded browser). roamdns serve probes HTTP targets on 127.0.0.2 and .3; the page shows
// both VIPs up in green; one target stops; without a reload, the page's own refresh shows that VIP
// down in red and the change in the recent-changes list. Also: it works without JavaScript (server-
// rendered, meta refresh), loads nothing from elsewhere, escapes what it prints, works behind the
// bearer token, and `npm run demo` (scripts/demo.mjs) shows a VIP going down and exits 0 on Ctrl-C.
// Network rule: the browser and every socket here talk to 127.0.0.0/8 only.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../cli/config.js';
import { renderStatusPage, type StatusDocument } from '../../cli/status-page.js';
import { makeTempDir, REPO_ROOT, spawnManaged, startRoamdns, type ManagedProcess, type RoamdnsServer } from '../helpers/roamdns.js';
import { startTargets, waitFor, type TargetSet } from '../fixtures/e2e/health-servers/servers.js';

const CHROMIUM = '/usr/bin/chromium';
const ZONE = path.join(REPO_ROOT, 'test/fixtures/e2e/health-page/zones/page.test.zone');
const POOL = 'www.page.test';
const [A, B] = ['127.0.0.2', '127.0.0.3'];
const POOL_YAML = (port: number) => `pools:\n  ${POOL}: { check: { http: { port: ${port}, path: /healthz }, interval: 200ms, timeout: 100ms, rise: 2, fall: 3 } }`;

/** Headless Debian chromium; fails with the fix when it is not installed. */
async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error('chromium not found: apt-get install chromium');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** [r, g, b] of a CSS colour as getComputedStyle gives it (`rgb(r, g, b)`). */
function rgb(css: string): [number, number, number] {
  const m = /^rgba?\((\d+), (\d+), (\d+)/.exec(css);
  if (!m) throw new Error(`not an rgb() colour: ${css}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}
const isGreen = ([r, g, b]: number[]) => g! > r! + 60 && g! > b! + 40;
const isRed = ([r, g, b]: number[]) => r! > g! + 100 && r! > b! + 100;

async function badge(page: Page, vip: string): Promise<{ state: string | null; text: string; color: [number, number, number] }> {
  const row = page.locator(`tr[data-vip="${vip}"]`);
  const el = row.locator('.state');
  return {
    state: await row.getAttribute('data-state'),
    text: (await el.textContent())?.trim() ?? '',
    color: rgb(await el.evaluate((e) => getComputedStyle(e).color)),
  };
}

/** Every URL the context asked for, to prove nothing but the status listener was contacted. */
function recordRequests(context: BrowserContext): string[] {
  const urls: string[] = [];
  context.on('request', (r) => urls.push(r.url()));
  return urls;
}

describe('GET / in headless Chromium', () => {
  let launched: Browser | Error | undefined;
  let targets: TargetSet | undefined;
  let srv: RoamdnsServer | undefined;
  /** The browser; each test that needs it fails (not skips) with the fix when chromium is missing. */
  const need = (): Browser => {
    if (!launched || launched instanceof Error) throw launched ?? new Error('the browser was not started');
    return launched;
  };

  beforeAll(async () => {
    launched = await launch().catch((e: Error) => e);
    targets = await startTargets([A, B]);
    srv = await startRoamdns({ zones: [ZONE], extraYaml: POOL_YAML(targets.port) });
  });

  afterAll(async () => {
    if (launched && !(launched instanceof Error)) await launched.close();
    await srv?.stop();
    await targets?.close();
  });

  test('both VIPs up in green; one stops; the page refreshes itself to show it down in red, and the change', async () => {
    const context = await need().newContext();
    const urls = recordRequests(context);
    const problems: string[] = [];
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    const base = `http://127.0.0.1:${srv!.statusPort}/`;
    const res = await page.goto(base);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    await page.waitForFunction(([a, b]) => [a, b].every((v) => document.querySelector(`tr[data-vip="${v}"]`)?.getAttribute('data-state') === 'up'), [A, B], { timeout: 10_000 });
    for (const vip of [A, B]) {
      const s = await badge(page, vip);
      expect(s.text).toBe('up');
      expect(isGreen(s.color), `${vip} badge colour ${s.color}`).toBe(true);
    }
    expect(await page.locator('.summary').textContent()).toContain('2 of 2 VIPs served');
    expect(await page.evaluate(() => document.documentElement.dataset.refresh)).toBe('js');

    // A marker in this document: if it survives, the page changed by its own refresh, not a reload.
    await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42; });
    await targets!.get(B).stop();
    await page.waitForFunction((b) => document.querySelector(`tr[data-vip="${b}"]`)?.getAttribute('data-state') === 'down', B, { timeout: 10_000, polling: 100 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    const down = await badge(page, B);
    expect(down.text).toBe('down');
    expect(isRed(down.color), `${B} badge colour ${down.color}`).toBe(true);
    expect((await badge(page, A)).text).toBe('up');
    const change = page.locator(`ol.changes li[data-vip="${B}"][data-from="up"][data-to="down"]`);
    await expect.poll(() => change.count()).toBe(1);
    // The probe's own reason: refused, or (on a loaded machine, the 100 ms timeout firing before
    // the refusal is handled) a timeout; either way the page says why.
    expect(await change.textContent()).toMatch(/probe failed 3x: (.*ECONNREFUSED|timeout after 100ms)/);
    expect(await page.locator('.summary').textContent()).toContain('1 of 2 VIPs served');
    expect(await page.locator(`section[data-pool="${POOL}"] .answer`).textContent()).toMatch(new RegExp(`${A.replace(/\./g, '\\.')} · TTL 10 s`));

    expect(urls.length).toBeGreaterThan(1); // the first load and at least one refresh
    for (const u of urls) expect(u.startsWith(base), `request to ${u}`).toBe(true);
    expect(problems, 'console errors (a CSP violation would show here)').toEqual([]);
    await context.close();
    await targets!.get(B).start();
  });

  test('without JavaScript: the server-rendered view, refreshed by <noscript> meta refresh', async () => {
    const context = await need().newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await targets!.get(B).stop();
    try {
      await waitFor(`${B} down in /status`, 5000, async () => {
        const doc = await (await fetch(`http://127.0.0.1:${srv!.statusPort}/status`)).json() as StatusDocument;
        return doc.pools[POOL]!.vips.find((v) => v.vip === B)?.state === 'down';
      }, 50);
      await page.goto(`http://127.0.0.1:${srv!.statusPort}/`);
      expect((await badge(page, B)).text).toBe('down');
      expect(isRed((await badge(page, B)).color)).toBe(true);
      expect(await page.evaluate(() => document.documentElement.dataset.refresh)).toBeUndefined();
    } finally {
      await targets!.get(B).start();
    }
    // The meta refresh (5 s) reloads the page; the VIP comes back up.
    await page.waitForFunction((b) => document.querySelector(`tr[data-vip="${b}"]`)?.getAttribute('data-state') === 'up', B, { timeout: 15_000, polling: 200 });
    await context.close();
  });

  test('everything it prints is escaped: hostile text shows as text, runs nothing', async () => {
    const evil = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>"'&`;
    const doc: StatusDocument = {
      version: 1, startedAt: new Date().toISOString(), hostname: evil, listen: { dns: [evil], status: evil },
      zones: [{ origin: evil, file: evil, serial: 1, records: 1, loadedAt: evil, lastResult: 'error', lastError: evil, lastAttemptAt: evil }],
      pools: { [evil]: { served: [], vips: [{ vip: evil, state: evil, served: false, since: evil, reason: evil, holders: [evil], probe: evil, lastProbe: { ok: false, latencyMs: 1, reason: evil, at: evil } }],
        answer: { kind: 'vips', vips: [evil], ttl: 5, degraded: true, perResponse: 1 } } },
      ownership: { at: 0, live: [evil], agents: [{ url: evil, ok: false, node: evil, reason: evil }] },
      recentChanges: [{ pool: evil, vip: evil, from: evil, to: evil, reason: evil, at: evil }],
    };
    const html = renderStatusPage(doc);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script>window');
    const context = await need().newContext();
    const page = await context.newPage();
    await page.route('**/*', (r) => r.abort()); // setContent loads nothing; the refresh script must not reach out either
    await page.setContent(html);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1); // the page's own
    expect(await page.locator('h1').textContent()).toBe(`roamdns · ${evil}`);
    expect(await page.locator('tr[data-vip] .state').first().getAttribute('class')).toBe('state state-unknown');
    await context.close();
  });

  test('behind status.token_file: 401 without the token; with it (a header the browser adds) the page loads and refreshes', async () => {
    const dir = await makeTempDir('roamdns-page-token');
    const token = randomBytes(24).toString('base64');
    const tokenFile = path.join(dir, 'status.token');
    await writeFile(tokenFile, token, { mode: 0o600 });
    await chmod(tokenFile, 0o600);
    const guarded = await startRoamdns({ zones: [ZONE], extraYaml: `  token_file: ${JSON.stringify(tokenFile)}\n${POOL_YAML(targets!.port)}` });
    try {
      const base = `http://127.0.0.1:${guarded.statusPort}/`;
      const anon = await need().newContext();
      expect((await (await anon.newPage()).goto(base))?.status()).toBe(401);
      await anon.close();
      const context = await need().newContext({ extraHTTPHeaders: { authorization: `Bearer ${token}` } });
      const page = await context.newPage();
      expect((await page.goto(base))?.status()).toBe(200);
      const first = await page.locator('#live').getAttribute('data-at');
      await page.waitForFunction((f) => document.getElementById('live')?.getAttribute('data-at') !== f, first, { timeout: 10_000 });
      expect(await page.locator('#live').getAttribute('class')).toBe('live');
      expect(await page.content()).not.toContain(token);
      await context.close();
    } finally {
      await guarded.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---- npm run demo ------------------------------------------------------------------------------

/** Fails with what to do when 127.0.0.1:port (TCP; UDP too for DNS) or addr:8080 is taken. */
async function requireFree(host: string, port: number): Promise<void> {
  const srv = net.createServer();
  await new Promise<void>((res, rej) => {
    srv.once('error', (e) => rej(new Error(`${host}:${port} is busy (${(e as NodeJS.ErrnoException).code}): npm run demo needs it; see: ss -ltnp 'sport = :${port}'`)));
    srv.listen(port, host, () => res());
  });
  await new Promise<void>((res) => srv.close(() => res()));
}

function digShort(port: number, name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('dig', ['+short', '+time=1', '+tries=1', '@127.0.0.1', '-p', String(port), name], { timeout: 5000 }, (err, stdout) => {
      if (err) reject(new Error(`dig failed: ${err.message} (dig is in bind9-dnsutils)`));
      else resolve(stdout.split('\n').filter(Boolean).sort());
    });
  });
}

describe('npm run demo', () => {
  let demo: ManagedProcess | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('the README shows the config the demo runs, and the demo\'s zone is clean', async () => {
    const { CONFIG, ZONE: DEMO_ZONE } = await import('../../scripts/demo.mjs') as { CONFIG: string; ZONE: string };
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const shown = [...readme.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]!).find((b) => b.startsWith('# The demo config'));
    expect(shown, 'README has no yaml block starting with "# The demo config"').toBeDefined();
    expect(parseYaml(shown!)).toEqual(parseYaml(CONFIG));
    expect(() => parseConfig(CONFIG, 'demo.yaml')).not.toThrow();
    for (const addr of [...CONFIG.matchAll(/\b(\d+\.\d+\.\d+\.\d+)\b/g), ...DEMO_ZONE.matchAll(/\bA\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!)) {
      expect(addr, 'network rule: the demo stays on loopback').toMatch(/^127\./);
    }
  });

  test('answers www.demo.example on 127.0.0.1:5354, the page on :8055 shows 127.0.0.3 go down, Ctrl-C exits 0', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.demo).toBe('node scripts/demo.mjs');
    for (const [host, port] of [['127.0.0.1', 5354], ['127.0.0.1', 8055], ['127.0.0.2', 8080], ['127.0.0.3', 8080], ['127.0.0.4', 8080]] as const) await requireFree(host, port);
    browser = await launch();
    demo = spawnManaged(process.execPath, ['scripts/demo.mjs'], { cwd: REPO_ROOT });
    await waitFor('the demo to print its instructions', 15_000, () => demo!.output().includes('Ctrl-C stops everything'), 100)
      .catch((e: Error) => { throw new Error(`${e.message}:\n${demo!.output()}`); });
    expect(demo.output()).toContain('dig @127.0.0.1 -p 5354 www.demo.example');
    expect(demo.output()).toContain('http://127.0.0.1:8055/');
    expect(await digShort(5354, 'www.demo.example')).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    const page = await browser.newPage();
    await page.goto('http://127.0.0.1:8055/');
    // 127.0.0.3 stops 10 s after the start and is withdrawn about 3 s later.
    await page.waitForFunction(() => document.querySelector('tr[data-vip="127.0.0.3"]')?.getAttribute('data-state') === 'down', undefined, { timeout: 25_000, polling: 200 });
    expect(await digShort(5354, 'www.demo.example')).toEqual(['127.0.0.2', '127.0.0.4']);
    expect(demo.output()).toMatch(/www\.demo\.example -> 127\.0\.0\.2 127\.0\.0\.4 {2}\(TTL 5\)/);
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain('SIGINT: stopping');
    for (const [host, port] of [['127.0.0.1', 5354], ['127.0.0.1', 8055], ['127.0.0.3', 8080]] as const) await requireFree(host, port);
  }, 60_000);
});

// The human status page (GET /): every pool, VIP, holder and state at a glance, zones with their
// serials and last reload, recent state changes. One renderer, on the server: the first view works
// without JavaScript (a <noscript> meta refresh reloads it), and the inline script refreshes it by
// fetching the page again every 2 s and swapping the view in, so there is no second renderer in the
// browser to drift from this one. No external assets; every interpolated value is escaped by the
// `html` template tag, and a Content-Security-Policy allows only this page's own inline style and
// script (by hash), so even a missed escape could not run script.
import { createHash } from 'node:crypto';
import { pct, planCapacity, splitByFamily, vipsOf, type CapacityPlan, type Scenario } from '../failover/capacity.js';
import type { ZoneStatus } from '../server/zone-store.js';

export type VipStateName = 'up' | 'conflict' | 'down' | 'orphan' | 'unknown';

/** One VIP as GET /status shows it. */
export interface VipView {
  vip: string;
  state: string;
  served: boolean;
  since: string;
  reason: string;
  holders: readonly string[];
  probe: string;
  lastProbe: { ok: boolean; latencyMs: number; status?: number; reason?: string; at: string } | null;
}

/** What DNS answers for a pool name right now (A and AAAA together). */
export interface PoolAnswerView {
  /** `vips`: these addresses; `nodata`: every VIP is down and when_all_down is `none`. */
  kind: 'vips' | 'nodata';
  vips: string[];
  ttl: number | null;
  /** Some VIPs withdrawn, or all down and answered anyway (fail-open): the TTL is degraded_ttl. */
  degraded: boolean;
  /** Records per response at most (max_answers); the rotation gives every VIP its turn. */
  perResponse: number | null;
}

export interface PoolView {
  served: readonly string[];
  vips: VipView[];
  whenAllDown?: 'all' | 'none';
  degradedTtl?: number;
  answer?: PoolAnswerView;
}

/** The GET /status document (version 1; extended, never broken). */
export interface StatusDocument {
  version: 1;
  startedAt: string;
  hostname?: string;
  listen?: { dns: string[]; status: string };
  zones: ZoneStatus[];
  pools: Record<string, PoolView>;
  ownership: { at: number; live: readonly string[]; agents: ReadonlyArray<{ url: string; ok: boolean; node?: string; reason?: string }> } | null;
  recentChanges: { pool: string; vip: string; from: string; to: string; reason: string; at: string }[];
  /** The configured cluster, for the what-if view's weights and prefer; without it, equal weights and no prefer are assumed. */
  cluster?: ClusterPlanView;
}

/** cluster.nodes (weights), prefer and the VIPs the agents share, as configured. */
export interface ClusterPlanView {
  nodes: Record<string, { weight: number }>;
  prefer: Record<string, string>;
  vips?: string[];
}

// ---- escaping ------------------------------------------------------------------------------

/** A fragment already escaped (built by `html`); anything else is text and gets escaped. */
class Html {
  constructor(readonly text: string) {}
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function fragment(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(fragment).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** Template tag: every interpolation is escaped unless it is itself an `html` fragment. */
function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => { out += fragment(v) + strings[i + 1]!; });
  return new Html(out);
}

// ---- the fixed parts: style, script, policy --------------------------------------------------

const STYLE = `
:root{--up:#1a7f37;--up-bg:#dafbe1;--conflict:#9a6700;--conflict-bg:#fff1c2;--down:#c62828;--down-bg:#ffe1e1;--unknown:#6e7781;--unknown-bg:#eaeef2;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0;padding:1.2em 2em 3em;max-width:1200px}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .4em}
.meta,.muted{color:var(--muted)}.meta span+span::before{content:" · "}
table{border-collapse:collapse;width:100%;margin:.3em 0}th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.9em}td.num{font-variant-numeric:tabular-nums}
code,.vip{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.state{display:inline-block;min-width:5.5em;text-align:center;font-weight:600;border-radius:1em;padding:.05em .7em}
.state-up{color:var(--up);background:var(--up-bg)}.state-conflict{color:var(--conflict);background:var(--conflict-bg)}
.state-down,.state-orphan,.state-error{color:var(--down);background:var(--down-bg)}.state-unknown{color:var(--unknown);background:var(--unknown-bg)}
.state-ok{color:var(--up);background:var(--up-bg)}
.summary{font-size:1.15em;font-weight:600;padding:.5em .8em;border-radius:.4em;margin:.8em 0}
.answer{margin:.2em 0 .4em}.pool h2 .state{font-size:.8em;margin-left:.6em}
ol.changes{list-style:none;padding:0;margin:.3em 0}ol.changes li{padding:.25em 0;border-bottom:1px solid var(--line)}
.live{font-weight:600}.live.stale{color:var(--down)}body.stale main{opacity:.55}
`;

// Refreshes the view: fetch this page again, swap <main id="view"> for the new one. The markup comes
// escaped from the server; DOMParser never runs scripts, and the policy allows none but this one.
const SCRIPT = `
(() => {
  const PERIOD_MS = 2000;
  async function refresh() {
    try {
      const res = await fetch(location.href, { cache: 'no-store', headers: { accept: 'text/html' } });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const next = new DOMParser().parseFromString(await res.text(), 'text/html');
      const view = next.getElementById('view');
      if (!view) throw new Error('no view in the answer');
      document.getElementById('view').replaceWith(document.adoptNode(view));
      document.title = next.title;
      document.body.classList.remove('stale');
    } catch (err) {
      document.body.classList.add('stale');
      const live = document.getElementById('live');
      if (live) {
        live.textContent = 'refresh failed (' + (err && err.message ? err.message : String(err)) + '); showing the last view';
        live.classList.add('stale');
      }
    } finally {
      setTimeout(refresh, PERIOD_MS);
    }
  }
  document.documentElement.dataset.refresh = 'js';
  setTimeout(refresh, PERIOD_MS);
})();
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only this page's own style and script, fetches to itself; nothing from elsewhere, no framing. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'", `style-src ${sha256(STYLE)}`, `script-src ${sha256(SCRIPT)}`, "connect-src 'self'",
  "img-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

/** Seconds between refreshes without JavaScript (a full reload). */
const NOSCRIPT_REFRESH_S = 5;

// ---- rendering -----------------------------------------------------------------------------

const STATES: readonly string[] = ['up', 'conflict', 'down', 'orphan', 'unknown'];
const stateClass = (s: string): string => `state state-${STATES.includes(s) ? s : 'unknown'}`;
const badge = (s: string): Html => html`<span class="${stateClass(s)}">${s}</span>`;

/** `4s`, `3m 12s`, `2h 5m`, `3d 4h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** `<time>` with the full timestamp in its title and the age as text. */
function ago(iso: string | null | undefined, now: number): Html {
  if (!iso) return html`<span class="muted">-</span>`;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return html`${iso}`;
  return html`<time datetime="${iso}" title="${iso}">${formatAge(now - t)} ago</time>`;
}

function lastProbe(p: VipView['lastProbe']): Html {
  if (!p) return html`<span class="muted">none yet</span>`;
  const status = p.status !== undefined ? html` · HTTP ${p.status}` : '';
  return html`<span class="${p.ok ? 'probe-ok' : 'probe-fail'}">${p.ok ? 'pass' : 'fail'}</span> · <span class="latency">${Math.round(p.latencyMs)} ms</span>${status}`;
}

function answerLine(name: string, p: PoolView): Html {
  const a = p.answer;
  if (!a) return html``;
  if (a.kind === 'nodata') return html`<p class="answer">DNS answers <b>NODATA</b> for ${name}: no VIP is served and when_all_down is <code>none</code>.</p>`;
  const every = p.served.length === 0 && a.degraded;
  const why = every ? html` <span class="state state-down">no VIP served: answering every VIP (when_all_down: all)</span>`
    : a.degraded ? html` <span class="muted">(degraded: some VIPs withdrawn)</span>` : '';
  const per = a.perResponse !== null && a.perResponse < a.vips.length ? html`, ${a.perResponse} per response` : '';
  return html`<p class="answer">DNS answers ${name} with <span class="vip">${a.vips.join(', ')}</span> · TTL ${a.ttl ?? '-'} s${per}${why}</p>`;
}

/** Colour of a group of VIPs: all served green, none red, some amber; still waiting for first results grey. */
function overallState(served: number, unknown: number, total: number): string {
  if (served === total) return 'up';
  if (unknown > 0 && served + unknown === total) return 'unknown';
  return served === 0 ? 'down' : 'conflict';
}

function pool(name: string, p: PoolView, clustered: boolean, now: number): Html {
  const total = p.vips.length, served = p.served.length;
  const overall = overallState(served, p.vips.filter((v) => v.state === 'unknown').length, total);
  const rows = p.vips.map((v) => html`
<tr data-vip="${v.vip}" data-state="${v.state}">
<td class="vip">${v.vip}</td><td>${badge(v.state)}</td>${clustered ? html`<td>${v.holders.length ? v.holders.join(', ') : html`<span class="muted">none</span>`}</td>` : ''}
<td>${ago(v.since, now)}</td><td class="num">${lastProbe(v.lastProbe)}</td><td>${v.reason}</td></tr>`);
  return html`
<section class="pool" data-pool="${name}">
<h2>${name}<span class="${stateClass(overall)}">${served} of ${total} served</span></h2>
${answerLine(name, p)}
<table><thead><tr><th>VIP</th><th>state</th>${clustered ? html`<th>holders</th>` : ''}<th>since</th><th>last probe</th><th>reason</th></tr></thead>
<tbody>${rows}</tbody></table>
</section>`;
}

function zones(list: readonly ZoneStatus[], now: number): Html {
  const rows = list.map((z) => html`
<tr data-zone="${z.origin}"><td class="vip">${z.origin}</td><td class="num">${z.serial ?? '-'}</td><td class="num">${z.records}</td><td>${ago(z.loadedAt, now)}</td>
<td><span class="${z.lastResult === 'ok' ? 'state state-ok' : 'state state-error'}">${z.lastResult}</span> ${ago(z.lastAttemptAt, now)}${z.lastError ? html`<div class="error">${z.lastError}</div>` : ''}</td></tr>`);
  return html`<h2>Zones</h2><table><thead><tr><th>zone</th><th>serial</th><th>records</th><th>loaded</th><th>last reload</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function agents(o: NonNullable<StatusDocument['ownership']>): Html {
  const rows = o.agents.map((a) => html`<tr><td><code>${a.url}</code></td><td>${a.node ?? '-'}</td><td>${badge(a.ok ? 'up' : 'down')}</td><td>${a.reason ?? ''}</td></tr>`);
  return html`<h2>Agents</h2><p>Live nodes: ${o.live.length ? o.live.join(', ') : html`<span class="state state-down">none</span>`}</p>
<table><thead><tr><th>status URL</th><th>node</th><th>reachable</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table>`;
}

// ---- what if a node is taken out (failover/capacity.ts on the live holders) -------------------

/** What taking out each live node would do now: the agents' assignment, from the live holders. */
export function whatIfPlan(doc: StatusDocument): CapacityPlan | undefined {
  const o = doc.ownership;
  if (!o) return undefined;
  const current = new Map<string, string>();
  for (const p of Object.values(doc.pools)) for (const v of p.vips) if (v.holders.length === 1) current.set(v.vip, v.holders[0]!);
  const c = doc.cluster;
  const nodes = c ? Object.entries(c.nodes).map(([name, n]) => ({ name, weight: n.weight }))
    : [...new Set([...o.live, ...current.values()])].sort().map((name) => ({ name, weight: 1 }));
  const shared = (vip: string) => !c?.vips || c.vips.includes(vip);
  const pools = splitByFamily(Object.entries(doc.pools).map(([name, p]) => ({ name, vips: p.vips.map((v) => v.vip).filter(shared) })));
  const input = { nodes, pools, prefer: new Map(Object.entries(c?.prefer ?? {})) };
  if (nodes.length === 0 || vipsOf(input).length === 0) return undefined;
  return planCapacity(input, { current, down: nodes.filter((n) => !o.live.includes(n.name)).map((n) => n.name) });
}

const shares = (s: Scenario): Html[] => s.loads.map((l, i) =>
  html`${i ? ' · ' : ''}<span data-node="${l.node}" data-share="${l.share}" class="${l.over.length ? 'state state-down' : ''}">${l.node} ${pct(l.share)}</span>`);

function whatIfRow(s: Scenario): Html {
  const over = s.loads.filter((l) => l.over.length);
  const moves = s.moved.map((m) => html`<div class="move" data-vip="${m.vip}" data-from="${m.from ?? ''}" data-to="${m.to ?? ''}"><span class="vip">${m.vip}</span> → ${m.to ?? 'nobody'}</div>`);
  const verdict = over.length ? html`<span class="state state-down">over limit</span> ${over.map((l) => `${l.node} above ${pct(l.limit)}`).join(', ')}` : html`<span class="state state-up">ok</span>`;
  return html`<tr data-node="${s.failed[0]}"><td>${s.failed[0]}</td><td>${moves.length ? moves : html`<span class="muted">none</span>`}</td><td>${shares(s)}</td><td>${verdict}</td></tr>`;
}

/** The node to take out next: the smallest peak share among the others, then the fewest moves. */
function leastDisruptive(failures: readonly Scenario[]): Scenario | undefined {
  const peak = (s: Scenario) => Math.max(...s.loads.map((l) => l.share / l.normalShare));
  return [...failures].sort((a, b) => peak(a) - peak(b) || a.moved.length - b.moved.length)[0];
}

function whatIf(doc: StatusDocument): Html {
  let plan: CapacityPlan | undefined;
  try {
    plan = whatIfPlan(doc);
  } catch (err) {
    return html`<h2>What if a node is taken out</h2><p class="muted">Not available: ${(err as Error).message}</p>`;
  }
  if (!plan) return html``;
  const best = leastDisruptive(plan.failures);
  const assumed = doc.cluster ? '' : html` Weights and prefer are not in this /status: equal weights and no prefer assumed.`;
  return html`<section class="what-if" id="what-if">
<h2>What if a node is taken out</h2>
<p class="muted">For maintenance (drain) or a failure: the VIPs the agents would move, from the holders now, and each other node's share of the traffic after (clients spread evenly over a name's VIPs; the same plan as <code>roamdns plan</code>).${assumed}</p>
<p>Now: ${shares(plan.baseline)}${best ? html` · least disruptive to take out next: <b data-best="${best.failed[0]}">${best.failed[0]}</b>` : ''}</p>
${plan.failures.length ? html`<table><thead><tr><th>take out</th><th>VIPs that move</th><th>the others' share after</th><th>verdict</th></tr></thead><tbody>${plan.failures.map(whatIfRow)}</tbody></table>`
    : html`<p class="muted">Only one live node: nothing to fail over to.</p>`}
</section>`;
}

function changes(list: StatusDocument['recentChanges'], now: number): Html {
  const items = list.slice(-20).reverse().map((c) => html`
<li data-vip="${c.vip}" data-from="${c.from}" data-to="${c.to}">${ago(c.at, now)} <b>${c.pool}</b> <span class="vip">${c.vip}</span> ${badge(c.from)} → ${badge(c.to)} <span class="muted">${c.reason}</span></li>`);
  return html`<h2>Recent state changes</h2>${items.length ? html`<ol class="changes">${items}</ol>` : html`<p class="muted">No state change since start.</p>`}`;
}

function summary(doc: StatusDocument): { text: string; state: string } {
  const vips = Object.values(doc.pools).flatMap((p) => p.vips);
  const served = vips.filter((v) => v.served).length;
  const zonesBad = doc.zones.filter((z) => z.lastResult !== 'ok').length;
  if (vips.length === 0) return { text: `No pools configured: answering the zones as written${zonesBad ? `; ${zonesBad} zone(s) failed to reload` : ''}`, state: zonesBad ? 'down' : 'up' };
  const text = `${served} of ${vips.length} VIPs served${zonesBad ? `; ${zonesBad} zone(s) failed to reload` : ''}`;
  const state = overallState(served, vips.filter((v) => v.state === 'unknown').length, vips.length);
  return { text, state: zonesBad && state === 'up' ? 'conflict' : state };
}

/** The whole page for `doc`, ages computed at `now` (ms). */
export function renderStatusPage(doc: StatusDocument, now = Date.now()): string {
  const clustered = doc.ownership !== null;
  const sum = summary(doc);
  const host = doc.hostname ? ` · ${doc.hostname}` : '';
  const listen = doc.listen ? html`<span>DNS on <code>${doc.listen.dns.join(', ')}</code></span>` : '';
  const pools = Object.entries(doc.pools).map(([name, p]) => pool(name, p, clustered, now));
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>roamdns${host} · ${sum.text}</title>
<noscript><meta http-equiv="refresh" content="${NOSCRIPT_REFRESH_S}"></noscript>
<style>${new Html(STYLE)}</style></head>
<body><main id="view">
<h1>roamdns${host}</h1>
<p class="meta">${listen}<span>started ${ago(doc.startedAt, now)}</span><span id="live" class="live" data-at="${new Date(now).toISOString()}">updated ${new Date(now).toISOString().slice(11, 19)} UTC</span></p>
<div class="summary ${stateClass(sum.state)}">${sum.text}</div>
${pools}
${clustered ? agents(doc.ownership!) : ''}
${clustered ? whatIf(doc) : ''}
${zones(doc.zones, now)}
${pools.length ? changes(doc.recentChanges, now) : ''}
<p class="muted">JSON: <a href="status">/status</a> · Prometheus: <a href="metrics">/metrics</a></p>
</main>
<script>${new Html(SCRIPT)}</script>
</body></html>
`;
  return page.text;
}

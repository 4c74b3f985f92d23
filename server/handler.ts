// One message in, at most one message out: the per-query policy in one place.
// Nothing escapes: malformed -> FORMERR or drop, not ours -> REFUSED, a bug -> SERVFAIL; all counted.
import { lookup, type AnyMode } from './lookup.js';
import type { DnsMetrics } from './metrics.js';
import { renderError, renderResponse, renderSections, type Transport } from './response.js';
import { RRClass, RRType } from './rr.js';
import { parseQuery, Rcode, type Query } from './wire.js';
import type { ZoneSet } from './zone.js';
import type { AnswerOverlay } from './pool-overlay.js';
import type { AnswerCache } from './answer-cache.js';

const rcodeNames: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN', 9: 'NOTAUTH', 16: 'BADVERS' };

export interface HandlerContext {
  /** The zones being served right now (swapped atomically on reload). */
  zones(): ZoneSet;
  /** Health-aware answers for pool names (rebuilt off the hot path when health or zones change). */
  overlay?(): AnswerOverlay;
  /** Prebuilt answers (the fast path); without it every query takes the general path. */
  cache?: AnswerCache;
  metrics: DnsMetrics;
  /** QTYPE ANY: one RRset (RFC 8482, default) or all; give the AnswerCache the same. */
  any?: AnyMode;
}

/** What the transport must do with a message: send bytes, drop it, or hand it to the zone-transfer code. */
export type HandlerOutcome =
  | { kind: 'reply'; bytes: Buffer }
  | { kind: 'drop' }
  | { kind: 'axfr'; query: Query };

function reply(ctx: HandlerContext, transport: Transport, rcode: number, bytes: Buffer): HandlerOutcome {
  ctx.metrics.queries.inc({ transport, rcode: rcodeNames[rcode] ?? String(rcode) });
  if (transport === 'udp' && bytes.length >= 3 && (bytes[2]! & 0x02) !== 0) ctx.metrics.truncated.inc();
  return { kind: 'reply', bytes };
}

/** Handles one DNS message received over `transport`. Never throws. */
export function handleMessage(ctx: HandlerContext, msg: Buffer, transport: Transport): HandlerOutcome {
  if (ctx.cache) {
    try {
      const bytes = ctx.cache.answer(msg, transport, ctx.zones(), ctx.overlay?.());
      if (bytes) return { kind: 'reply', bytes };
    } catch {
      ctx.metrics.internalErrors.inc(); // a bug in the fast path: the general path still answers
    }
  }
  let parsed;
  try {
    parsed = parseQuery(msg);
  } catch {
    ctx.metrics.internalErrors.inc();
    return { kind: 'drop' };
  }
  if (parsed.kind === 'drop') {
    ctx.metrics.dropped.inc({ reason: parsed.reason });
    return { kind: 'drop' };
  }
  if (parsed.kind === 'error') {
    if (parsed.rcode === Rcode.FORMERR) ctx.metrics.malformed.inc({ reason: parsed.reason });
    return reply(ctx, transport, parsed.rcode, renderError(parsed, transport));
  }
  const q = parsed.query;
  try {
    return answer(ctx, q, transport);
  } catch {
    ctx.metrics.internalErrors.inc();
    return reply(ctx, transport, Rcode.SERVFAIL, renderError({ ...q, rcode: Rcode.SERVFAIL }, transport));
  }
}

/**
 * IXFR (RFC 1995) without a journal: the query must carry the client's SOA (else FORMERR).
 * A client that is current, or any client over UDP, gets our SOA alone (§4: "use TCP" / up to date);
 * otherwise the full zone goes out over TCP as for AXFR, which §4 allows.
 */
function ixfr(ctx: HandlerContext, q: Query, transport: Transport): HandlerOutcome {
  if (q.authoritySoaSerial === undefined) return reply(ctx, transport, Rcode.FORMERR, renderError({ ...q, rcode: Rcode.FORMERR }, transport));
  const zone = ctx.zones().zones.get(q.qkey);
  if (zone && (transport === 'udp' || q.authoritySoaSerial === zone.serial)) {
    const sections = { rcode: Rcode.NOERROR, aa: false, answer: [{ rrset: zone.soa }], authority: [], additional: [] };
    return reply(ctx, transport, Rcode.NOERROR, renderSections(q, sections, transport));
  }
  if (transport === 'udp') return reply(ctx, transport, Rcode.REFUSED, renderError({ ...q, rcode: Rcode.REFUSED }, transport));
  return { kind: 'axfr', query: q };
}

function answer(ctx: HandlerContext, q: Query, transport: Transport): HandlerOutcome {
  const err = (rcode: number) => reply(ctx, transport, rcode, renderError({ ...q, rcode }, transport));
  // QCLASS * (RFC 1035 §3.2.5) matches our IN data; every other class is not ours.
  if (q.qclass !== RRClass.IN && q.qclass !== RRClass.ANY) return err(Rcode.REFUSED);
  switch (q.qtype) {
    case RRType.AXFR:
      // RFC 5936 §4.2: AXFR is a TCP-only exchange.
      if (transport !== 'tcp') return err(Rcode.FORMERR);
      return { kind: 'axfr', query: q };
    case RRType.IXFR:
      return ixfr(ctx, q, transport);
    case RRType.OPT:
    case RRType.MAILA:
    case RRType.MAILB:
      return err(q.qtype === RRType.OPT ? Rcode.FORMERR : Rcode.NOTIMP);
  }
  const result = lookup(ctx.zones(), q.qkey, q.qlabels, q.qtype, ctx.overlay?.(), ctx.any ?? 'minimal');
  const bytes = renderResponse(q, result, transport);
  if (result.kind === 'answer') {
    for (const p of result.answer) if (p.pool) ctx.metrics.poolAnswers.inc({ pool: p.pool.key, degraded: p.pool.degraded ? 'yes' : 'no' });
  }
  const rcode = { refused: Rcode.REFUSED, nxdomain: Rcode.NXDOMAIN, yxdomain: Rcode.YXDOMAIN }[result.kind as string] ?? Rcode.NOERROR;
  return reply(ctx, transport, rcode, bytes);
}

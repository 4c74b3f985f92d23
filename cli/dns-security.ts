// The DNS server's protections from roamdns.yaml: RRL (server/rrl.ts), TSIG keys (server/tsig.ts)
// and the NOTIFY sender (server/notify.ts).
import { parseListen } from '../server/dns-server.js';
import { Notifier } from '../server/notify.js';
import { RateLimiter } from '../server/rrl.js';
import { keysFromConfig, TsigKeyring } from '../server/tsig.js';
import type { RoamdnsConfig } from './config.js';

const canonical = (name: string) => (name.endsWith('.') ? name : name + '.').toLowerCase();

export function dnsSecurity(cfg: RoamdnsConfig) {
  const keyring = new TsigKeyring(keysFromConfig(cfg.dns.tsig_keys));
  for (const k of [...(cfg.dns.transfer_keys ?? []), ...(cfg.dns.notify_key ? [cfg.dns.notify_key] : [])]) {
    if (!keyring.get(canonical(k))) throw new Error(`${cfg.file}: dns: key '${k}' is not in dns.tsig_keys`);
  }
  const rrl = new RateLimiter(cfg.dns.rrl);
  return { rrl: rrl.enabled ? rrl : undefined, tsig: { keyring, transferKeys: cfg.dns.transfer_keys?.map(canonical) }, keyring };
}

export function dnsNotifier(cfg: RoamdnsConfig, keyring: TsigKeyring, log: { warn(o: object, m: string): void; debug(o: object, m: string): void }): Notifier | undefined {
  if (cfg.dns.notify.length === 0) return undefined;
  const tsig = cfg.dns.notify_key ? keyring.get(canonical(cfg.dns.notify_key)) : undefined;
  return new Notifier({ targets: cfg.dns.notify.map(parseListen), tsig }, { log });
}

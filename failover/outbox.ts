// Builds, signs and sends this node's heartbeat to each peer, with the peer's own timestamp echoed back for RTT.
import type { Logger } from './deps.js';
import { encodeHeartbeat, recipientExtension, type Handoff, type Health, type Heartbeat, type HeldVip, type NodeState, type PacketType } from './heartbeat.js';
import type { Membership } from './membership.js';

export interface PeerAddress {
  name: string;
  address: string;
  port: number;
}

export interface OutboxOptions {
  node: string;
  incarnation: number;
  key: Uint8Array;
  digest: string;
  peers: readonly PeerAddress[];
  membership: Membership;
  send: (to: PeerAddress, bytes: Buffer) => void;
  log: Logger;
}

/** What this node says about itself right now. */
export interface OwnState {
  state: NodeState;
  health: Health;
  held: HeldVip[];
  handoffs: Handoff[];
}

export class Outbox {
  sent = 0;
  private seq = 0; // one counter for all peers: each peer still sees it grow

  constructor(private readonly o: OutboxOptions) {}

  /** The config digest carried in heartbeats changes when the VIP set does. */
  setDigest(digest: string): void {
    this.o.digest = digest;
  }

  private packet(to: string, type: PacketType, own: OwnState, now: number): Heartbeat {
    const p = this.o.membership.get(to);
    return {
      type, node: this.o.node, incarnation: this.o.incarnation, seq: ++this.seq, ...own,
      timestampMs: Math.max(1, Math.floor(now)), // 0 means "no timestamp" in the echo field
      echoTimestampMs: p?.theirTimestampMs ?? 0, echoDelayMs: p ? Math.max(0, now - p.theirTimestampAtMs) : 0,
      configDigest: this.o.digest,
      extensions: recipientExtension(to), // binds the packet to this peer: it cannot be replayed to another
    };
  }

  /** One packet to every peer; a send that throws is logged and the others still go out. */
  sendAll(type: PacketType, own: OwnState, now: number): void {
    for (const peer of this.o.peers) {
      try {
        this.o.send(peer, encodeHeartbeat(this.packet(peer.name, type, own, now), this.o.key));
        this.sent++;
      } catch (e) {
        this.o.log.error({ peer: peer.name, err: String(e) }, 'heartbeat not sent');
      }
    }
  }
}

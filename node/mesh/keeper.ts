import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { GossipAction, GossipActionError, hello, RejectCode, type HelloBody, type ValidatedMessage } from '../../protocol/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Host } from '../p2p/host.js'
import { PeerRateLimiter } from '../p2p/rate-limit.js'
import type { Logger } from '../log.js'
import { VERSION } from '../version.js'

/**
 * Keeps the node in the mesh: re-dials bootstrap peers it lost, gossips a signed `hello`
 * with its addresses (at start, when it gains a peer, and every `helloIntervalS`), and dials
 * peers it hears of through hellos while it has fewer than `targetPeers` connections. So a
 * node bootstrapped to a single peer soon holds connections to several.
 *
 * Its tables are bounded (issue 9, "Abuse limits"): peers heard of through hellos are kept up
 * to `maxKnownPeers`, the least recently heard forgotten first, and so are the times of
 * discovery dials; a peer's hellos beyond `hellosPerS` (with a small burst) are ignored at
 * validation, so they are neither handled nor forwarded — a flood from one key stops here.
 */
export interface MeshKeeperComponents {
  host: Host
  gossip: GossipRouter
  log: Logger
  /** Clock, for tests. */
  now?: () => number
  /** This node's executor tier to announce in hellos (undefined: it executes nothing). */
  tier?: () => number | undefined
}

export interface MeshKeeperInit {
  bootstrap: string[]
  targetPeers: number
  redialIntervalMs: number
  helloIntervalMs: number
  dialTimeoutMs: number
  /** Peers heard of through hellos that are remembered [DEFAULT_MAX_KNOWN_PEERS]. */
  maxKnownPeers?: number
  /** Hellos a second one peer may send; more are ignored, not forwarded [1, bursts of HELLO_BURST]. */
  hellosPerS?: number
}

export const DEFAULT_MAX_KNOWN_PEERS = 1000
/** Hellos a peer may send at once after a quiet spell: a node says hello at start and after new connections (debounced), and on `POST /v1/hello`. */
const HELLO_BURST = 10

export interface KnownPeer {
  peerId: string
  addrs: string[]
  seq: number
  agent: string
  lastSeen: number
  /** Hellos from this peer handed to the application (validated and accepted). */
  received: number
  /** Its executor tier, when it executes tasks. */
  tier?: number
}

/** Debounce of the hello sent after a new connection, so a burst of connects sends one. */
const HELLO_AFTER_CONNECT_MS = 250
/** A peer heard of through hello is dialled at most this often. */
const DISCOVERY_DIAL_BACKOFF_MS = 30_000

export class MeshKeeper {
  private readonly c: MeshKeeperComponents
  private readonly init: MeshKeeperInit
  private readonly bootstrap: Multiaddr[]
  private readonly known = new Map<string, KnownPeer>()
  private readonly lastDial = new Map<string, number>()
  /** Discovery dials under way: they count towards targetPeers before they connect. */
  private readonly dialing = new Set<string>()
  /** Bootstrap addresses given without /p2p: the peer id learned at the first dial. */
  private readonly resolved = new Map<string, string>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private helloTimer: NodeJS.Timeout | undefined
  private seq = 0
  private running = false
  private readonly now: () => number
  private readonly maxKnown: number
  private readonly hellos: PeerRateLimiter

  constructor (components: MeshKeeperComponents, init: MeshKeeperInit) {
    this.c = components
    this.now = components.now ?? Date.now
    this.init = init
    this.bootstrap = init.bootstrap.map(a => multiaddr(a))
    this.maxKnown = init.maxKnownPeers ?? DEFAULT_MAX_KNOWN_PEERS
    this.hellos = new PeerRateLimiter({ ratePerS: init.hellosPerS ?? 1, burst: HELLO_BURST, maxPeers: this.maxKnown }, this.now)
  }

  start (): void {
    this.running = true
    this.c.gossip.handle(hello, (msg) => { this.onHello(msg) }, { admit: (msg) => { this.admitHello(msg) } })
    this.c.host.addEventListener('peer:connect', this.onConnect)
    this.every(this.init.redialIntervalMs, () => { void this.redialBootstrap() })
    if (this.init.helloIntervalMs > 0) this.every(this.init.helloIntervalMs, () => { void this.sayHello() })
    void this.redialBootstrap()
    void this.sayHello()
  }

  stop (): void {
    this.running = false
    this.c.host.removeEventListener('peer:connect', this.onConnect)
    for (const t of this.timers) clearInterval(t)
    this.timers.clear()
    if (this.helloTimer != null) clearTimeout(this.helloTimer)
  }

  /** Peers heard from through hello, newest first. */
  /** Addresses a peer announced in its hello, with /p2p/<peer> (for dialling a peer we are not connected to). */
  addressesOf (peer: string): Multiaddr[] {
    const known = this.known.get(peer)
    if (known == null) return []
    const out: Multiaddr[] = []
    for (const a of known.addrs) {
      try {
        const ma = multiaddr(a)
        if (ma.getPeerId() == null) out.push(ma.encapsulate(`/p2p/${peer}`))
      } catch { /* skipped */ }
    }
    return out
  }

  /** Heard a valid hello from it (hellos need the `node` role: it is a member, of the team or a partner). */
  isMember (peer: string): boolean {
    return this.known.has(peer)
  }

  /** What a peer's hellos said of it, if it was heard. */
  peer (peerId: string): KnownPeer | undefined {
    return this.known.get(peerId)
  }

  /** Forgets a peer (revoked): it is neither dialled nor counted as a member. */
  forget (peer: string): void {
    this.known.delete(peer)
  }

  knownPeers (): KnownPeer[] {
    return [...this.known.values()].sort((a, b) => b.lastSeen - a.lastSeen)
  }

  /** Gossips a hello now; returns its sequence number. */
  async sayHello (): Promise<number> {
    const seq = ++this.seq
    const addrs = this.c.host.getMultiaddrs()
      .map(a => a.decapsulateCode(421).toString()) // 421 = p2p: the peer id is the signer
      .filter((a, i, all) => all.indexOf(a) === i)
      .slice(0, 16)
    try {
      const tier = this.c.tier?.()
      await this.c.gossip.publish<HelloBody>(hello, { seq, addrs, agent: `aas/${VERSION}`, ...(tier != null ? { tier } : {}) })
    } catch (err: any) {
      this.c.log.debug({ err: err.message }, 'hello not published')
    }
    return seq
  }

  private every (ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.timers.add(t)
  }

  private readonly onConnect = (): void => {
    if (!this.running || this.helloTimer != null) return
    this.helloTimer = setTimeout(() => {
      this.helloTimer = undefined
      void this.sayHello()
    }, HELLO_AFTER_CONNECT_MS)
    this.helloTimer.unref()
  }

  /** A peer's hellos over its rate are ignored: not handled, not forwarded, not penalised. */
  admitHello (msg: Pick<ValidatedMessage<HelloBody>, 'sender'>): void {
    if (!this.hellos.take(msg.sender)) throw new GossipActionError(GossipAction.IGNORE, RejectCode.RATE_LIMITED, `hellos from ${msg.sender} beyond ${this.init.hellosPerS ?? 1} a second`)
  }

  /** Puts `key` last in `map` (most recent), dropping the first (least recent) entries past `max`. */
  private static touch<V> (map: Map<string, V>, key: string, value: V, max: number): void {
    map.delete(key)
    map.set(key, value)
    while (map.size > max) map.delete(map.keys().next().value as string)
  }

  private onHello (msg: ValidatedMessage<HelloBody>): void {
    const { sender, envelope } = msg
    if (sender === this.c.host.peerId.toString()) return
    const prev = this.known.get(sender)
    MeshKeeper.touch(this.known, sender, { peerId: sender, addrs: envelope.body.addrs, seq: envelope.body.seq, agent: envelope.body.agent, lastSeen: this.now(), received: (prev?.received ?? 0) + 1, ...(envelope.body.tier != null ? { tier: envelope.body.tier } : {}) }, this.maxKnown)
    // a newcomer heard for the first time gets our hello soon (debounced), so it learns our
    // addresses without waiting for the interval, even if it connected to someone else
    if (prev == null) this.onConnect()
    // a burst of hellos (every peer says hello when it connects) must not start a dial each
    if (this.c.host.getPeers().length + this.dialing.size < this.init.targetPeers) void this.discoverDial(sender, envelope.body.addrs)
  }

  private async discoverDial (peer: string, addrs: string[]): Promise<void> {
    const peerId = peerIdFromString(peer)
    if (this.c.host.getConnections(peerId).length > 0) return
    const last = this.lastDial.get(peer) ?? 0
    if (this.now() - last < DISCOVERY_DIAL_BACKOFF_MS) return
    MeshKeeper.touch(this.lastDial, peer, this.now(), this.maxKnown)
    const targets: Multiaddr[] = []
    for (const a of addrs) {
      try {
        const ma = multiaddr(a)
        if (ma.getPeerId() != null || !ma.protoNames().includes('tcp')) continue
        targets.push(ma.encapsulate(`/p2p/${peer}`))
      } catch { /* an unparseable address from a peer is skipped */ }
    }
    if (targets.length === 0) return
    this.dialing.add(peer)
    try {
      await this.c.host.dial(targets, { signal: AbortSignal.timeout(this.init.dialTimeoutMs) })
      this.c.log.debug({ peer }, 'dialled a peer heard of through hello')
    } catch (err: any) {
      this.c.log.debug({ peer, err: err.message }, 'discovery dial failed')
    } finally {
      this.dialing.delete(peer)
    }
  }

  private async redialBootstrap (): Promise<void> {
    for (const addr of this.bootstrap) {
      if (!this.running) return
      const peer = addr.getPeerId() ?? this.resolved.get(addr.toString())
      if (peer != null && this.c.host.getConnections(peerIdFromString(peer)).length > 0) continue
      try {
        const conn = await this.c.host.dial(addr, { signal: AbortSignal.timeout(this.init.dialTimeoutMs) })
        this.resolved.set(addr.toString(), conn.remotePeer.toString())
      } catch (err: any) {
        this.c.log.debug({ addr: addr.toString(), err: err.message }, 'bootstrap dial failed')
      }
    }
  }
}

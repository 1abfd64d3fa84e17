import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client'
import { GossipAction, RejectCode } from '../protocol/index.js'

/**
 * Every metric of the node, declared in one place on the node's own registry (no global
 * registry: several nodes may share a process in tests and benchmarks). Names end in their
 * unit; label values come only from fixed enums.
 */
export type GossipResult = 'accept' | GossipAction
export const GOSSIP_REASON_OK = 'ok'
export type GossipReason = typeof GOSSIP_REASON_OK | RejectCode | 'internal'

export interface MetricsInit {
  /** Collect Node.js process metrics (off for in-process test meshes). */
  defaults?: boolean
}

export function createMetrics (init: MetricsInit = {}) {
  const registry = new Registry()
  if (init.defaults !== false) collectDefaultMetrics({ register: registry })
  let peerSource: () => number = () => 0

  return {
    registry,
    /** Where `aas_peers` reads its value at scrape time. */
    setPeerSource (fn: () => number): void { peerSource = fn },
    peers: new Gauge({
      name: 'aas_peers',
      help: 'Peers this node holds a connection to',
      registers: [registry],
      collect () { this.set(peerSource()) }
    }),
    gossipMessages: new Counter<'topic' | 'result' | 'reason'>({
      name: 'aas_gossip_messages_total',
      help: 'Gossip messages received, by topic, validation result and reason',
      labelNames: ['topic', 'result', 'reason'],
      registers: [registry]
    }),
    gossipPublished: new Counter<'topic'>({
      name: 'aas_gossip_published_total',
      help: 'Gossip messages this node published, by topic',
      labelNames: ['topic'],
      registers: [registry]
    })
  }
}

export type Metrics = ReturnType<typeof createMetrics>

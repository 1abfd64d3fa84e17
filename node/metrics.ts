import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
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
    }),
    skillReleases: new Counter<'source' | 'result' | 'reason'>({
      name: 'aas_skill_releases_total',
      help: 'Skill release announcements handled, by source (gossip, sync, local), result (indexed, duplicate, refused) and reason',
      labelNames: ['source', 'result', 'reason'],
      registers: [registry]
    }),
    skillIndexSize: new Gauge({
      name: 'aas_skill_index_releases',
      help: 'Skill releases in this node\'s index',
      registers: [registry]
    }),
    skillFetches: new Counter<'result' | 'reason'>({
      name: 'aas_skill_fetch_attempts_total',
      help: 'Bundle fetch attempts from one provider, by result (ok, failed) and reason',
      labelNames: ['result', 'reason'],
      registers: [registry]
    }),
    skillFetchBytes: new Counter({
      name: 'aas_skill_fetch_bytes_total',
      help: 'Verified bundle bytes fetched from peers',
      registers: [registry]
    }),
    skillServedBytes: new Counter({
      name: 'aas_skill_served_bytes_total',
      help: 'Bundle bytes served to peers',
      registers: [registry]
    }),
    skillFetchSeconds: new Histogram({
      name: 'aas_skill_fetch_seconds',
      help: 'Time to fetch and verify one bundle from a provider',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry]
    })
  }
}

export type Metrics = ReturnType<typeof createMetrics>

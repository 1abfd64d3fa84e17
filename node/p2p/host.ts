import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, type GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import { createPeerScoreParams, type PeerScoreParams, type TopicScoreParams } from '@chainsafe/libp2p-gossipsub/score'
import { multiaddr } from '@multiformats/multiaddr'
import { prometheusMetrics, type PrometheusMetricsComponents } from '@libp2p/prometheus-metrics'
import type { ConnectionGater, PeerId, PrivateKey, PeerDiscovery, ComponentLogger, PubSub, Metrics as Libp2pMetrics } from '@libp2p/interface'
import type { Registry } from 'prom-client'

/**
 * The libp2p host: TCP, noise, yamux, identify, ping, bootstrap and gossipsub (DESIGN.md
 * "Stack"). Gossipsub signs and checks every message at the libp2p level (StrictSign), only
 * AAS topics are accepted, and inbound RPCs are capped in size before decoding.
 */
export type HostServices = {
  identify: Identify
  ping: Ping
  pubsub: PubSub<GossipsubEvents>
}

export type Host = Libp2p<HostServices>

export interface HostInit {
  privateKey: PrivateKey
  listen: string[]
  bootstrap: string[]
  topics: string[]
  maxConnections: number
  /** Largest gossipsub RPC frame accepted from a peer, in bytes. */
  maxGossipFrameBytes: number
  dialTimeoutMs: number
  logger?: ComponentLogger
  /**
   * libp2p's own metrics (connections, streams, protocol traffic, dials) go on this
   * registry. Only one host a process: the library keeps its metric objects in a
   * module-wide map, so two hosts in one process would share them.
   */
  metrics?: { registry: Registry, statfsLocation: string }
  /**
   * Peers this host neither dials nor keeps a connection from (revoked team keys): asked when
   * a dial starts and once a connection's peer id is known, so a revoked peer's hang-up stays.
   */
  denyPeer?: (peerId: string) => boolean
}

export const defaultMaxGossipFrameBytes = 1024 * 1024

/**
 * Peer scoring: a message our validators Reject counts as an invalid delivery, whose
 * penalty grows with the square of their number, so a peer sending a handful of bad messages
 * drops below the gossip and publish thresholds and, past nine, is greylisted (its RPCs
 * ignored). Delivery-rate penalties are off: AAS topics are quiet, and an honest peer must
 * not lose score for having nothing to say. Loopback peers are exempt from the same-IP
 * penalty: they are processes of one machine (local meshes, tests), never a Sybil swarm.
 */
function scoreParams (topics: string[]): Partial<PeerScoreParams> {
  const perTopic: Record<string, Partial<TopicScoreParams>> = {}
  for (const topic of topics) {
    perTopic[topic] = {
      topicWeight: 1,
      timeInMeshWeight: 0.01,
      timeInMeshQuantum: 1000,
      timeInMeshCap: 300,
      firstMessageDeliveriesWeight: 0.1,
      firstMessageDeliveriesDecay: 0.9,
      firstMessageDeliveriesCap: 50,
      meshMessageDeliveriesWeight: 0,
      meshFailurePenaltyWeight: 0,
      invalidMessageDeliveriesWeight: -1,
      invalidMessageDeliveriesDecay: 0.99
    }
  }
  return createPeerScoreParams({
    topics: perTopic as Record<string, TopicScoreParams>,
    IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1'])
  })
}

/**
 * libp2p registers some gauges with names ending in `_total` (`libp2p_tcp_inbound_connections_total`,
 * `libp2p_protocol_streams_total`, `libp2p_tcp_listener_events_total`, …), which
 * `promtool check metrics` flags: only counters end in `_total`. Every gauge (registerMetric,
 * registerMetricGroup: counters have their own calls) is exported without that suffix.
 */
export function gaugeName (name: string): string {
  return name.endsWith('_total') ? name.slice(0, -'_total'.length) : name
}

function renamingMetrics (factory: (components: PrometheusMetricsComponents) => Libp2pMetrics): (components: PrometheusMetricsComponents) => Libp2pMetrics {
  return (components) => {
    const m = factory(components)
    const rename = gaugeName
    const { registerMetric, registerMetricGroup } = m
    m.registerMetric = ((name: string, opts?: any) => registerMetric.call(m, rename(name), opts)) as Libp2pMetrics['registerMetric']
    m.registerMetricGroup = ((name: string, opts?: any) => registerMetricGroup.call(m, rename(name), opts)) as Libp2pMetrics['registerMetricGroup']
    return m
  }
}

function peerGater (deny: (peerId: string) => boolean): ConnectionGater {
  const denied = (peer: PeerId): boolean => deny(peer.toString())
  return { denyDialPeer: denied, denyInboundEncryptedConnection: denied, denyOutboundEncryptedConnection: denied }
}

let unidentified = 0

/**
 * Gossipsub's duplicate check before the signature check. Without it every copy of a message
 * (a node gets one from each mesh peer: about D-1 = 5 at scale) has its libp2p signature
 * verified before the seen-cache drops it: an ed25519 check, ~0.2 ms of CPU per copy here, the largest
 * per-hop cost on a loaded machine. The key is the message id gossipsub computes anyway under
 * StrictSign (author + seqno), read off the raw message: an entry is only cached once a copy
 * passed the signature check, so a forged copy cannot shadow the real one, and a later copy
 * with the same author and seqno is the same message to gossipsub already.
 */
export function fastMessageId (msg: { from?: Uint8Array, seqno?: Uint8Array }): string {
  if (msg.from == null || msg.seqno == null) return `unidentified:${++unidentified}` // refused by StrictSign anyway
  return `${Buffer.from(msg.from).toString('base64')}/${Buffer.from(msg.seqno).toString('base64')}`
}

export async function createHost (init: HostInit): Promise<Host> {
  // @libp2p/bootstrap needs /p2p/<peerId> in each address; the mesh keeper dials the others.
  const withPeerId = init.bootstrap.filter(a => multiaddr(a).getPeerId() != null)
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if (withPeerId.length > 0) peerDiscovery.push(bootstrap({ list: withPeerId, timeout: 0 }))

  return createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    connectionManager: { maxConnections: init.maxConnections, dialTimeout: init.dialTimeoutMs },
    ...(init.denyPeer != null ? { connectionGater: peerGater(init.denyPeer) } : {}),
    ...(init.logger != null ? { logger: init.logger } : {}),
    ...(init.metrics != null
      ? {
          // process metrics come from the node's own registry already
          metrics: renamingMetrics(prometheusMetrics({ registry: init.metrics.registry, collectDefaultMetrics: false, statfsLocation: init.metrics.statfsLocation }))
        }
      : {}),
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        allowedTopics: init.topics,
        maxInboundDataLength: init.maxGossipFrameBytes,
        // hellos are small; the heartbeat keeps meshes formed quickly on small networks
        heartbeatInterval: 700,
        fastMsgIdFn: fastMessageId,
        scoreParams: scoreParams(init.topics)
      })
    }
  })
}

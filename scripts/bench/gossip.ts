import { performance } from 'node:perf_hooks'
import type { Message } from '@libp2p/interface'
import { decodeEnvelope, hello, senderPeerId, type HelloBody } from '../../protocol/index.js'
import type { AasNode } from '../../node/index.js'
import { startCluster, waitForMesh, waitForQuiet } from './cluster.js'
import { echoPair } from './echo.js'
import { measurePair } from './measure.js'
import { median, percentile } from './stats.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'

/**
 * gossip-propagation: how long a gossiped message takes to reach every other node of a mesh.
 * N real nodes (in-process, see cluster.ts) form a mesh; each round one node (in turn) says
 * hello through its mesh keeper, the real publish path (seal, sign, gossipsub), and the round
 * lasts until the last other node has accepted it: validated by the router's validators and
 * handed to the application. Baseline: one direct libp2p stream round trip between two
 * connected nodes (echo.ts), alternated with the gossip rounds.
 *
 * The receive time is taken from gossipsub's `message` event, which fires only for messages
 * the topic validator accepted, in the same dispatch as GossipRouter's own listener and one
 * microtask before the hello handler runs. (GossipRouter has no public observer of
 * deliveries; the report that came with this benchmark suggests one.)
 */
const SIZES = [5, 20]
const ROUND_TIMEOUT_MS = 10_000
/**
 * Idle after each round (measure.ts). Measured here: with no gap, the echo round right after
 * a gossip round in a 20-node mesh took a median of 40 ms instead of 4 ms, because it was
 * timed while the nodes were still forwarding that message's duplicates.
 */
const GAP_MS = 200

/** Receive times of hellos, by `sender/seq`, on each node. */
class Deliveries {
  private readonly seen = new Map<string, Map<number, number>>()
  private waiter: { key: string, count: number, done: () => void } | undefined

  record (key: string, node: number, at: number): void {
    let times = this.seen.get(key)
    if (times == null) { times = new Map(); this.seen.set(key, times) }
    if (!times.has(node)) times.set(node, at)
    if (this.waiter?.key === key && times.size >= this.waiter.count) this.waiter.done()
  }

  clear (): void { this.seen.clear() }

  /** Resolves with the receive times once `count` nodes have received `key`. */
  async wait (key: string, count: number, timeoutMs: number, signal: AbortSignal): Promise<number[]> {
    const have = (): number[] | undefined => {
      const times = this.seen.get(key)
      return times != null && times.size >= count ? [...times.values()] : undefined
    }
    const now = have()
    if (now != null) return now
    await new Promise<void>((resolve, reject) => {
      const end = (err?: Error): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        this.waiter = undefined
        if (err != null) reject(err); else resolve()
      }
      const onAbort = (): void => { end(new Error('benchmark interrupted')) }
      const timer = setTimeout(() => {
        end(new Error(`hello ${key} reached ${this.seen.get(key)?.size ?? 0} of ${count} nodes in ${timeoutMs} ms`))
      }, timeoutMs)
      signal.addEventListener('abort', onAbort)
      this.waiter = { key, count, done: () => { end() } }
    })
    return have()!
  }
}

/** Listens on every node's gossipsub for accepted hellos; returns the undo. */
function tap (nodes: AasNode[], deliveries: Deliveries): () => void {
  const undo: Array<() => void> = []
  nodes.forEach((node, i) => {
    const pubsub = node.host.services.pubsub
    const onMessage = (evt: CustomEvent<Message>): void => {
      const at = performance.now() // first: the decode below is the benchmark's, not the node's
      if (evt.detail.topic !== hello.topic) return
      const envelope = decodeEnvelope(evt.detail.data)
      const body = envelope.body as HelloBody
      deliveries.record(`${senderPeerId(envelope)}/${body.seq}`, i, at)
    }
    pubsub.addEventListener('message', onMessage)
    undo.push(() => { pubsub.removeEventListener('message', onMessage) })
  })
  return () => { undo.forEach(u => { u() }) }
}

async function propagation (ctx: BenchContext, size: number): Promise<BenchResult> {
  ctx.log(`gossip-propagation: starting ${size} nodes`)
  const cluster = await startCluster({ size, log: ctx.log, signal: ctx.signal })
  const deliveries = new Deliveries()
  const untap = tap(cluster.nodes, deliveries)
  try {
    const minPeers = Math.min(2, size - 1)
    const t0 = performance.now()
    await waitForMesh(cluster, hello.topic, minPeers, 60_000, ctx.signal)
    const formed = performance.now() - t0
    const conns = (await waitForQuiet(cluster, 3_000, 60_000, ctx.signal)).sort((x, y) => x - y)
    ctx.log(`gossip-propagation: mesh of ${size} formed in ${Math.round(formed)} ms, quiet after ${Math.round(performance.now() - t0)} ms; connections per node ${conns[0]}..${conns[conns.length - 1]} (median ${median(conns)}); ${ctx.warmup} warm-up + ${ctx.rounds} rounds`)

    const [a, b] = cluster.nodes
    const echo = await echoPair(a.host, b.host) // node 1 bootstraps to node 0: connected
    let round = 0
    try {
      const gossipRound = async (): Promise<number> => {
        const from = cluster.nodes[round++ % size]
        deliveries.clear()
        const t0 = performance.now()
        const seq = await from.mesh.sayHello()
        const times = await deliveries.wait(`${from.host.peerId.toString()}/${seq}`, size - 1, ROUND_TIMEOUT_MS, ctx.signal)
        return Math.max(...times) - t0
      }
      const { samples, baseline } = await measurePair(ctx, gossipRound, echo.roundTrip, { gapMs: GAP_MS })
      return {
        name: `gossip-propagation-n${size}`,
        unit: 'ms',
        samples,
        baseline,
        extra: { p99: Math.round(percentile(samples, 99) * 1000) / 1000, nodes: size }
      }
    } finally {
      await echo.close().catch(() => {})
    }
  } finally {
    untap()
    await cluster.stop()
  }
}

const benchmark: Benchmark = {
  name: 'gossip-propagation',
  description: `time for a hello gossiped by one node to be accepted by every other node, meshes of ${SIZES.join(' and ')} nodes; baseline: one libp2p stream round trip`,
  async run (ctx) {
    const results: BenchResult[] = []
    for (const size of SIZES) results.push(await propagation(ctx, size))
    return results
  }
}

export default benchmark

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AasNode, resolveConfig } from '../../node/index.js'
import { bootstrapOf } from '../lib/topology.js'
import { LocalTeam } from '../lib/team.js'

/**
 * N real AAS nodes in this process, for benchmarks: each an `AasNode` built from a resolved
 * config like `aas node start` builds it, with its own data dir (LevelDB, identity), loopback
 * TCP, its own API port, and the real gossip path (gossipsub, validators, router, mesh keeper).
 * In-process rather than N processes because 20 Node.js processes on a small machine measure
 * process scheduling more than gossip, and because one process has one clock: a receive time
 * on one node and a send time on another compare directly.
 *
 * Wired as `npm run mesh` wires its processes (../lib/topology.ts).
 */
export interface Cluster {
  nodes: AasNode[]
  stop: () => Promise<void>
}

export interface StartClusterOptions {
  size: number
  log?: (line: string) => void
  signal?: AbortSignal
}

export async function startCluster (opts: StartClusterOptions): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), 'aas-bench-'))
  // one team, as an operator would set it up: every node admitted with every role
  const team = await LocalTeam.create(join(root, 'team'), 'bench')
  const nodes: AasNode[] = new Array(opts.size)
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.filter(n => n != null).map(async n => { await n.stop() }))
    await rm(root, { recursive: true, force: true })
  }
  const started: Array<Promise<string>> = []
  const startOne = async (i: number): Promise<string> => {
    const bootstrap = await Promise.all(bootstrapOf(i).map(async j => await started[j]))
    opts.signal?.throwIfAborted()
    const config = await resolveConfig({
      env: {}, // only what is set here: no AAS_* of the caller's shell
      flags: { dataDir: join(root, `node-${i}`), listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', bootstrap, logLevel: 'silent', team: await team.nodeConfig(join(root, `node-${i}`)) }
    })
    const node = new AasNode({ config, processMetrics: false })
    nodes[i] = node
    const runtime = await node.start()
    return runtime.addresses.find(a => a.startsWith('/ip4/127.0.0.1/tcp/')) ?? runtime.addresses[0]
  }
  for (let i = 0; i < opts.size; i++) started.push(startOne(i))
  const results = await Promise.allSettled(started)
  const failed = results.find(r => r.status === 'rejected')
  if (failed != null) {
    await stop()
    throw (failed as PromiseRejectedResult).reason
  }
  opts.log?.(`started ${opts.size} in-process nodes under ${root}`)
  return { nodes, stop }
}

/**
 * Waits until every node holds at least `minPeers` connections and has grafted at least one
 * peer into its gossipsub mesh for `topic`, so the first measured message does not wait for a
 * heartbeat to build the mesh.
 */
export async function waitForMesh (cluster: Cluster, topic: string, minPeers: number, timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    signal?.throwIfAborted()
    const lacking = cluster.nodes.filter(n => {
      const pubsub = n.host.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }
      return n.host.getPeers().length < minPeers || (minPeers > 0 && pubsub.getMeshPeers(topic).length === 0)
    })
    if (lacking.length === 0) return
    if (Date.now() > until) {
      throw new Error(`mesh not formed after ${timeoutMs} ms: ${lacking.length} node(s) with under ${minPeers} peers or no gossip mesh peer`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * Waits until the nodes stop making connections: the total connection count unchanged for
 * `quietMs`. Right after the mesh forms, nodes still dial peers they heard of through hellos
 * (noise handshakes, identify, grafts), and a round measured during that storm measures the
 * storm. Returns the connection counts per node once quiet.
 */
export async function waitForQuiet (cluster: Cluster, quietMs = 3_000, timeoutMs = 60_000, signal?: AbortSignal): Promise<number[]> {
  const until = Date.now() + timeoutMs
  const counts = (): number[] => cluster.nodes.map(n => n.host.getConnections().length)
  let last = counts().join()
  let since = Date.now()
  while (Date.now() < until) {
    signal?.throwIfAborted()
    await new Promise(resolve => setTimeout(resolve, 250))
    const now = counts().join()
    if (now !== last) { last = now; since = Date.now() } else if (Date.now() - since >= quietMs) break
  }
  return counts()
}

import { join } from 'node:path'
import { ChildNode, type ChildNodeInfo } from '../lib/child-node.js'
import { LocalTeam } from '../lib/team.js'
import { bootstrapOf } from '../lib/topology.js'

/**
 * N node processes for the scale benchmarks: each an `aas node start` child (the real CLI,
 * with the `aas` command's V8 flags), all admitted to one team made on the spot, wired as
 * `npm run mesh` wires them (lib/topology.ts) and started in the same waves. What the
 * benchmarks read of them goes through each node's own API: /metrics (RSS, CPU, gossip
 * counters, libp2p connections and bytes) and /v1/mesh (when the node accepted each peer's
 * latest hello, by its own clock).
 */
export interface ProcessMesh {
  nodes: ChildNode[]
  infos: ChildNodeInfo[]
  stop: () => Promise<void>
}

const WAVE = 10
const WAVE_PAUSE_MS = 3_000

export async function startProcessMesh (root: string, size: number, args: string[], signal: AbortSignal): Promise<ProcessMesh> {
  const team = await LocalTeam.create(join(root, `team-${size}`), 'bench')
  const nodes: ChildNode[] = []
  const infos: ChildNodeInfo[] = new Array(size)
  const stop = async (): Promise<void> => { await Promise.allSettled(nodes.map(async n => { await n.stop() })) }
  const started: Array<Promise<string>> = []
  const startOne = async (i: number): Promise<string> => {
    const bootstrap = await Promise.all(bootstrapOf(i).map(async j => await started[j]))
    signal.throwIfAborted()
    const dataDir = join(root, `n${size}-${i}`)
    const n = new ChildNode({ dataDir, listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0', bootstrap, logLevel: 'warn', args: [...args, ...await team.nodeArgs(dataDir)] })
    nodes.push(n)
    const info = await n.started(120_000)
    infos[i] = info
    const addr = info.addresses.find(a => a.startsWith('/ip4/127.0.0.1/')) ?? info.addresses[0]
    return addr.includes('/p2p/') ? addr : `${addr}/p2p/${info.peerId}`
  }
  for (let i = 0; i < size; i++) {
    started.push(startOne(i))
    // in waves: fifty processes starting at once on two cores time out each other's dials
    if ((i + 1) % WAVE === 0) {
      await Promise.allSettled(started.slice(-WAVE))
      await new Promise(resolve => setTimeout(resolve, WAVE_PAUSE_MS))
    }
  }
  const results = await Promise.allSettled(started)
  const failed = results.find(r => r.status === 'rejected')
  if (failed != null) { await stop(); throw (failed as PromiseRejectedResult).reason }
  return { nodes, infos, stop }
}

export async function getJson<T> (url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return await res.json() as T
}

/** One node's /metrics, parsed: `name{labels}` → value (samples of one name and labels). */
export type Scrape = Map<string, number>

export async function scrape (api: string): Promise<Scrape> {
  const text = await (await fetch(`${api}/metrics`)).text()
  const out: Scrape = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const sp = line.lastIndexOf(' ')
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)))
  }
  return out
}

/** Sum of the samples of `name` whose labels contain every one of `match`. */
export function sum (s: Scrape, name: string, ...match: string[]): number {
  let total = 0
  for (const [k, v] of s) {
    if (k !== name && !k.startsWith(`${name}{`)) continue
    if (match.every(m => k.includes(m))) total += v
  }
  return total
}

export async function scrapeAll (mesh: ProcessMesh): Promise<Scrape[]> {
  return await Promise.all(mesh.infos.map(async i => await scrape(i.api)))
}

/** libp2p connections a node holds (inbound and outbound, open). */
export function connections (s: Scrape): number {
  return sum(s, 'libp2p_connection_manager_connections', '"inbound"') + sum(s, 'libp2p_connection_manager_connections', '"outbound"')
}

/**
 * Waits until every node has `minPeers` peers and the mesh's total peer count has stayed
 * within 2% for `quietMs` (a large mesh keeps making the odd discovery dial). Past
 * `timeoutMs`, returns anyway (and calls `onUnsettled`) if every node has at least one peer:
 * measured on 2 cores, 50 processes never settled in 3 or 5 minutes (some nodes kept 1 peer).
 */
export async function waitForProcessMesh (mesh: ProcessMesh, minPeers: number, quietMs: number, timeoutMs: number, signal: AbortSignal, onUnsettled?: (peers: number[]) => void): Promise<number[]> {
  const until = Date.now() + timeoutMs
  let last = -1
  let since = Date.now()
  for (;;) {
    signal.throwIfAborted()
    const peers = await Promise.all(mesh.infos.map(async i => (await getJson<{ peers: string[] }>(`${i.api}/v1/node`)).peers.length))
    const key = peers.join()
    const sum = peers.reduce((a, b) => a + b, 0)
    if (Math.abs(sum - last) > 0.02 * last || peers.some(p => p < minPeers)) { last = sum; since = Date.now() } else if (Date.now() - since >= quietMs) return peers
    if (Date.now() > until) {
      // a mesh whose every node has a peer still carries gossip: measure it and say so
      if (peers.every(p => p >= 1)) { onUnsettled?.(peers); return peers }
      throw new Error(`process mesh not settled after ${timeoutMs} ms: peers per node ${key}`)
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

/**
 * One hello round: node `from` says hello (POST /v1/hello); each other node's /v1/mesh
 * then shows, for that sender and sequence number, `lastSeen`: the wall-clock time at which
 * that node accepted it (its own clock, stamped in its hello handler, not when it was asked).
 * Returns each other node's delay from just before the POST, in ms. Polling /v1/mesh only
 * collects the stamps after the fact; it is not part of the figure.
 */
export async function helloRound (mesh: ProcessMesh, from: number, timeoutMs: number): Promise<number[]> {
  const sender = mesh.infos[from].peerId
  const t0 = Date.now()
  const { seq } = await getJson<{ seq: number }>(`${mesh.infos[from].api}/v1/hello`, {})
  const pending = new Set(mesh.infos.map((_, i) => i).filter(i => i !== from))
  const delays: number[] = []
  const until = Date.now() + timeoutMs
  await new Promise(resolve => setTimeout(resolve, 150))
  while (pending.size > 0) {
    await Promise.all([...pending].map(async i => {
      const { peers } = await getJson<{ peers: Array<{ peerId: string, seq: number, lastSeen: number }> }>(`${mesh.infos[i].api}/v1/mesh`)
      const p = peers.find(x => x.peerId === sender)
      if (p != null && p.seq >= seq) {
        // a later periodic hello of the same sender would overwrite the stamp: not this round's
        if (p.seq > seq) throw new Error(`hello ${seq} of node ${from} was overtaken by its hello ${p.seq} before node ${i} was read`)
        delays.push(p.lastSeen - t0)
        pending.delete(i)
      }
    }))
    if (pending.size === 0) break
    if (Date.now() > until) throw new Error(`hello ${seq} of node ${from} reached ${delays.length} of ${mesh.infos.length - 1} nodes in ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return delays
}

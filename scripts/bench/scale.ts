import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { manifestDigest, signRelease, Topics } from '../../protocol/index.js'
import { packSkill, rmTree } from '../../skills/bundle/index.js'
import { createAuthorKey } from '../../skills/keys.js'
import { connections, getJson, helloRound, scrapeAll, startProcessMesh, sum, waitForProcessMesh, type ProcessMesh, type Scrape } from './process-mesh.js'
import { rawGossipPair, type RawGossipPair } from './raw-gossip.js'
import { median, percentile } from './stats.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'

/**
 * Node processes at scale (issue 12). `mesh-scale`: N node processes (default 50; env
 * AAS_BENCH_NODES=N to try another size) and, first, 3 in the same run as the small mesh
 * every per-task figure is compared with. At each size: per-node RSS and CPU at idle and
 * under load (each node's /metrics), gossip time to all nodes (each node's own accept time
 * of a hello, against a raw libp2p publish→receive between two processes), gossip messages
 * and bytes per task while 10·N trivial tasks run (500 at 50 nodes), connections per node.
 * `gossip-processes`: the gossip rounds alone, at 20 node processes.
 */
const SKILL_SH = 'cat > /dev/null\nprintf \'{"ok":true}\'\n'
const IDLE_MS = 10_000
const GAP_MS = 250
const ROUND_TIMEOUT_MS = 10_000
/** A hello as the nodes send it, for the raw baseline's message size (bytes). */
const HELLO_BYTES = 600
const MB = 1024 * 1024

interface SizeFigures {
  size: number
  idleRss: number[]
  idleCpu: number[]
  loadRss: number[]
  loadCpu: number[]
  heapUsed: number[]
  conns: number[]
  gossip: number[]
  deliveries: number[]
  raw: number[]
  rawRss: number[]
  tasks: number
  succeeded: number
  tasksPerS: number
  /** Gossip messages published per task (all topics but hello), summed over the nodes. */
  publishedPerTask: number
  /** Gossip messages accepted per task, summed over the nodes (each node once per message). */
  deliveriesPerTask: number
  /** /meshsub bytes received per task, per node (idle traffic subtracted). */
  bytesPerTaskPerNode: number
  /** /meshsub bytes a node receives per second at idle (hellos, heartbeats, IHAVE). */
  idleBytesPerNodePerS: number
  latencyP50: number
  latencyP99: number
}

const rssMb = (s: Scrape): number => sum(s, 'process_resident_memory_bytes') / MB
const cpuS = (s: Scrape): number => sum(s, 'process_cpu_seconds_total')
const meshsubIn = (s: Scrape): number => sum(s, 'libp2p_data_transfer_bytes_total', '/meshsub/', 'received"')
const notHello = (name: string, ...match: string[]) => (s: Scrape): number => sum(s, name, ...match) - sum(s, name, `topic="${Topics.hello}"`, ...match)
const published = notHello('aas_gossip_published_total')
const accepted = notHello('aas_gossip_messages_total', 'result="accept"')
const total = (all: Scrape[], f: (s: Scrape) => number): number => all.reduce((n, s) => n + f(s), 0)

async function vmRssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

async function gossipRounds (ctx: BenchContext, mesh: ProcessMesh, raw: RawGossipPair, into: SizeFigures): Promise<void> {
  let next = 0
  for (let r = 0; r < ctx.warmup + ctx.rounds; r++) {
    ctx.signal.throwIfAborted()
    let delays: number[] | undefined
    for (let attempt = 0; delays == null; attempt++) {
      try {
        delays = await helloRound(mesh, next++ % mesh.infos.length, ROUND_TIMEOUT_MS)
      } catch (err: any) {
        if (attempt >= 2 || !String(err.message).includes('overtaken')) throw err
      }
    }
    await new Promise(resolve => setTimeout(resolve, GAP_MS))
    const b = await raw.round()
    await new Promise(resolve => setTimeout(resolve, GAP_MS))
    if (r < ctx.warmup) continue
    into.gossip.push(Math.max(...delays))
    into.deliveries.push(...delays)
    into.raw.push(b)
  }
}

async function runTasks (ctx: BenchContext, mesh: ProcessMesh, count: number): Promise<{ elapsedMs: number, latencies: number[], succeeded: number, peakRss: number[] }> {
  const t0 = performance.now()
  const ids: Array<{ api: string, id: string }> = []
  for (let i = 0; i < count; i += 50) {
    ids.push(...await Promise.all(Array.from({ length: Math.min(50, count - i) }, async (_x, k) => {
      const api = mesh.infos[(i + k) % mesh.infos.length].api
      return { api, id: (await getJson<{ id: string }>(`${api}/v1/tasks`, { skill: 'trivial', input: { i: i + k } })).id }
    })))
  }
  const done = new Map<string, { state: string, durationMs: number }>()
  const peakRss = mesh.infos.map(() => 0)
  let lastScrape = 0
  while (done.size < ids.length) {
    ctx.signal.throwIfAborted()
    const pending = ids.filter(t => !done.has(t.id))
    for (let i = 0; i < pending.length; i += 25) {
      await Promise.all(pending.slice(i, i + 25).map(async ({ api, id }) => {
        const t = await getJson<{ state: string, durationMs: number }>(`${api}/v1/tasks/${id}`)
        if (['succeeded', 'failed', 'cancelled'].includes(t.state)) done.set(id, t)
      }))
    }
    if (performance.now() - lastScrape > 3_000) {
      lastScrape = performance.now();
      (await scrapeAll(mesh)).forEach((s, i) => { peakRss[i] = Math.max(peakRss[i], rssMb(s)) })
    }
    if (performance.now() - t0 > 900_000) throw new Error(`only ${done.size} of ${ids.length} tasks finished in 15 minutes`)
    if (done.size < ids.length) await new Promise(resolve => setTimeout(resolve, 300))
  }
  const elapsedMs = performance.now() - t0
  const ok = [...done.values()].filter(d => d.state === 'succeeded')
  return { elapsedMs, latencies: ok.map(d => d.durationMs), succeeded: ok.length, peakRss }
}

async function publishSkill (root: string, api: string, key: Awaited<ReturnType<typeof createAuthorKey>>): Promise<void> {
  const dir = join(root, 'trivial')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'skill.json'), JSON.stringify({ name: 'trivial', version: '1.0.0', description: 'reads its input, prints {"ok":true}', runtime: 'sh', entrypoint: 'run.sh', resources: { memoryMB: 64, pids: 16, timeoutS: 60 } }))
  await writeFile(join(dir, 'run.sh'), SKILL_SH)
  const p = await packSkill(dir)
  const release = await signRelease(key.privateKey, { name: p.manifest.name, version: p.manifest.version, cid: p.cid.toString(), size: p.size, publishedAt: Date.now(), manifestDigest: manifestDigest(p.manifest) })
  await getJson(`${api}/v1/skills/publish`, { release, manifest: p.manifest, bundle: Buffer.from(p.bytes).toString('base64') })
}

async function atSize (ctx: BenchContext, root: string, size: number, tasks: number): Promise<SizeFigures> {
  const key = await createAuthorKey(join(root, `author-${size}.key`))
  const f: SizeFigures = { size, idleRss: [], idleCpu: [], loadRss: [], loadCpu: [], heapUsed: [], conns: [], gossip: [], deliveries: [], raw: [], rawRss: [], tasks, succeeded: 0, tasksPerS: 0, publishedPerTask: NaN, deliveriesPerTask: NaN, bytesPerTaskPerNode: NaN, idleBytesPerNodePerS: NaN, latencyP50: NaN, latencyP99: NaN }
  ctx.log(`mesh-scale: starting ${size} node processes`)
  const t0 = performance.now()
  const mesh = await startProcessMesh(root, size, ['--trust-author', key.publicKey, '--slots', '1'], ctx.signal)
  let raw: RawGossipPair | undefined
  try {
    const peers = await waitForProcessMesh(mesh, Math.min(2, size - 1), 5_000, 300_000, ctx.signal, (p) => {
      ctx.log(`mesh-scale: ${size} nodes not settled after 300 s (peers per node ${p.join(',')}); measuring anyway`)
    })
    ctx.log(`mesh-scale: ${size} nodes started and settled in ${((performance.now() - t0) / 1000).toFixed(1)} s; peers per node ${Math.min(...peers)}..${Math.max(...peers)}`)
    raw = await rawGossipPair(HELLO_BYTES)
    f.rawRss = await Promise.all([raw.pids.a, raw.pids.b].map(vmRssMb))

    // idle: nothing but the nodes' own hellos and heartbeats
    const i0 = await scrapeAll(mesh)
    const ti0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, IDLE_MS))
    const i1 = await scrapeAll(mesh)
    const idleS = (performance.now() - ti0) / 1000
    f.idleRss = i1.map(rssMb)
    f.heapUsed = i1.map(s => sum(s, 'nodejs_heap_size_used_bytes') / MB)
    f.idleCpu = i1.map((s, i) => 100 * (cpuS(s) - cpuS(i0[i])) / idleS)
    f.conns = i1.map(connections)
    f.idleBytesPerNodePerS = (total(i1, meshsubIn) - total(i0, meshsubIn)) / size / idleS
    ctx.log(`mesh-scale: n${size} idle RSS median ${median(f.idleRss).toFixed(1)} MB (max ${Math.max(...f.idleRss).toFixed(1)}), CPU ${median(f.idleCpu).toFixed(2)} %, connections ${median(f.conns)}`)

    ctx.log(`mesh-scale: n${size} gossip, ${ctx.warmup} warm-up + ${ctx.rounds} rounds`)
    await gossipRounds(ctx, mesh, raw, f)

    if (tasks > 0) {
      ctx.log(`mesh-scale: n${size} ${tasks} tasks (and ${size} warm-up ones first)`)
      await publishSkill(root, mesh.infos[0].api, key)
      await new Promise(resolve => setTimeout(resolve, 2_000))
      await runTasks(ctx, mesh, size) // warm-up: most nodes fetch the skill once
      const l0 = await scrapeAll(mesh)
      const r = await runTasks(ctx, mesh, tasks)
      const l1 = await scrapeAll(mesh)
      const loadS = r.elapsedMs / 1000
      f.succeeded = r.succeeded
      f.tasksPerS = tasks / loadS
      f.loadCpu = l1.map((s, i) => 100 * (cpuS(s) - cpuS(l0[i])) / loadS)
      f.loadRss = l1.map((s, i) => Math.max(rssMb(s), r.peakRss[i]))
      f.publishedPerTask = (total(l1, published) - total(l0, published)) / tasks
      f.deliveriesPerTask = (total(l1, accepted) - total(l0, accepted)) / tasks
      f.bytesPerTaskPerNode = ((total(l1, meshsubIn) - total(l0, meshsubIn)) / size - f.idleBytesPerNodePerS * loadS) / tasks
      if (r.latencies.length > 0) { f.latencyP50 = median(r.latencies); f.latencyP99 = percentile(r.latencies, 99) }
      ctx.log(`mesh-scale: n${size} ${r.succeeded}/${tasks} tasks in ${loadS.toFixed(1)} s; per task ${f.publishedPerTask.toFixed(2)} published, ${f.deliveriesPerTask.toFixed(1)} deliveries, ${Math.round(f.bytesPerTaskPerNode)} B in per node`)
    }
    return f
  } finally {
    raw?.stop()
    await mesh.stop()
  }
}

const r1 = (x: number): number => Math.round(x * 10) / 10

function gossipResult (f: SizeFigures, name: string): BenchResult {
  return {
    name,
    unit: 'ms',
    samples: f.gossip,
    baseline: f.raw,
    extra: {
      p99: percentile(f.gossip, 99),
      deliveryP50: median(f.deliveries),
      deliveryP99: percentile(f.deliveries, 99),
      baselineP99: r1(percentile(f.raw, 99)),
      nodes: f.size,
      is: 'time until every node accepted a hello (each node\'s own clock), from just before POST /v1/hello',
      baselineIs: 'raw libp2p gossipsub publish→receive between two processes (the node\'s host, no AAS)'
    }
  }
}

function scaleResults (small: SizeFigures, big: SizeFigures): BenchResult[] {
  const n = big.size
  return [
    {
      name: `mesh-idle-rss-n${n}`,
      unit: 'MB',
      samples: big.idleRss,
      baseline: big.rawRss,
      extra: { max: r1(Math.max(...big.idleRss)), heapUsedMB: r1(median(big.heapUsed)), goalMB: 80, [`at${small.size}`]: r1(median(small.idleRss)), baselineIs: 'RSS of a process with the node\'s libp2p host alone (same V8 flags)' }
    },
    {
      name: `mesh-load-rss-n${n}`,
      unit: 'MB',
      samples: big.loadRss,
      baseline: big.idleRss,
      extra: { max: r1(Math.max(...big.loadRss)), baselineIs: 'the same nodes\' RSS at idle' }
    },
    {
      name: `mesh-load-cpu-n${n}`,
      unit: '% of a core',
      samples: big.loadCpu,
      baseline: big.idleCpu,
      extra: { tasks: big.tasks, succeeded: big.succeeded, tasksPerS: r1(big.tasksPerS), taskP50Ms: Math.round(big.latencyP50), taskP99Ms: Math.round(big.latencyP99), baselineIs: 'the same nodes\' CPU at idle' }
    },
    gossipResult(big, `mesh-gossip-n${n}`),
    {
      name: `mesh-gossip-msgs-per-task-n${n}`,
      unit: 'messages',
      samples: [big.publishedPerTask],
      baseline: [small.publishedPerTask],
      extra: { deliveriesPerTask: r1(big.deliveriesPerTask), [`deliveriesPerTaskAt${small.size}`]: r1(small.deliveriesPerTask), baselineIs: `published per task at ${small.size} nodes, same run` }
    },
    {
      name: `mesh-gossip-bytes-per-task-n${n}`,
      unit: 'bytes per node',
      samples: [big.bytesPerTaskPerNode],
      baseline: [small.bytesPerTaskPerNode],
      extra: { idleBytesPerNodePerS: Math.round(big.idleBytesPerNodePerS), [`idleBytesPerNodePerSAt${small.size}`]: Math.round(small.idleBytesPerNodePerS), baselineIs: `/meshsub bytes received per node per task at ${small.size} nodes, same run` }
    },
    {
      name: `mesh-connections-n${n}`,
      unit: 'connections',
      samples: big.conns,
      baseline: small.conns,
      extra: { min: Math.min(...big.conns), max: Math.max(...big.conns), baselineIs: `connections per node at ${small.size} nodes` }
    }
  ]
}

async function withRoot<T> (fn: (root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'aas-bench-scale-'))
  try { return await fn(root) } finally { await rmTree(root) }
}

export const meshScale: Benchmark = {
  name: 'mesh-scale',
  description: 'N node processes (50; AAS_BENCH_NODES=N) and 3 in the same run: RSS and CPU per node idle and under 10·N trivial tasks, gossip to all vs raw libp2p between two processes, gossip messages and bytes per task, connections per node',
  async run (ctx) {
    const size = Number(process.env.AAS_BENCH_NODES ?? 50)
    if (!Number.isInteger(size) || size < 4 || size > 100) throw new RangeError(`AAS_BENCH_NODES=${String(process.env.AAS_BENCH_NODES)}: must be a whole number from 4 to 100`)
    return await withRoot(async (root) => {
      const small = await atSize(ctx, root, 3, 30)
      const big = await atSize(ctx, root, size, 10 * size)
      return [gossipResult(small, 'mesh-gossip-n3'), ...scaleResults(small, big)]
    })
  }
}

export const gossipProcesses: Benchmark = {
  name: 'gossip-processes',
  description: 'time for a hello to be accepted by every node of 20 node processes (each node\'s own clock) vs raw libp2p publish→receive between two processes',
  async run (ctx) {
    return await withRoot(async (root) => [gossipResult(await atSize(ctx, root, 20, 0), 'gossip-processes-n20')])
  }
}

export default meshScale

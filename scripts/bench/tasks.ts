import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { manifestDigest, signRelease } from '../../protocol/index.js'
import { packSkill, rmTree } from '../../skills/bundle/index.js'
import { createAuthorKey } from '../../skills/keys.js'
import { AAS_BIN, ChildNode, childEnv, type ChildNodeInfo } from '../lib/child-node.js'
import { bootstrapOf } from '../lib/topology.js'
import { median, percentile } from './stats.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'

/** A team task's gossip goes on the team's topic, counted under this one label (node/gossip/router.ts metricTopic). */
const TASK_TOPIC = '/aas/1/team'
import { LocalTeam } from '../lib/team.js'

/**
 * task-throughput: 200 trivial tasks submitted to a 3-node mesh (real node processes, real
 * sandboxes), against the same skill run with `aas skill run` back to back on one node.
 * Reports submit-to-result latency (p50, p99), throughput, and where a task's time went
 * (offer+bid+assign, skill fetch, sandbox, result return), from the origins' records.
 * task-gossip: gossip messages published per task on the task topic at 3 and at 10 nodes
 * (offer, assignment, completion: it must not grow with the mesh), and deliveries per task
 * (which do grow: each message reaches every node once).
 */
const TASKS = 200
const BASELINE_RUNS = 20
const SKILL_SH = 'cat > /dev/null\nprintf \'{"ok":true}\'\n'

interface Mesh { nodes: ChildNode[], infos: ChildNodeInfo[] }

async function startMesh (root: string, size: number, author: string, slots: number): Promise<Mesh> {
  const nodes: ChildNode[] = []
  const infos: ChildNodeInfo[] = []
  const dial: string[] = []
  const team = await LocalTeam.create(join(root, `team-${size}`), 'bench')
  for (let i = 0; i < size; i++) {
    const dataDir = join(root, `n${size}-${i}`)
    const n = new ChildNode({ dataDir, listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0', bootstrap: bootstrapOf(i).map(j => dial[j]), logLevel: 'warn', args: ['--trust-author', author, '--slots', String(slots), ...await team.nodeArgs(dataDir)] })
    nodes.push(n)
    const info = await n.started()
    infos.push(info)
    dial.push(info.addresses.find(a => a.startsWith('/ip4/127.0.0.1/')) ?? info.addresses[0])
  }
  const until = Date.now() + 60_000
  for (;;) {
    const peers = await Promise.all(infos.map(async i => (await getJson<{ peers: string[] }>(`${i.api}/v1/node`)).peers.length))
    if (peers.every(p => p >= Math.min(2, size - 1))) break
    if (Date.now() > until) throw new Error('mesh did not form')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  await new Promise(resolve => setTimeout(resolve, 2000)) // let discovery dials settle
  return { nodes, infos }
}

async function getJson<T> (url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return await res.json() as T
}

async function metric (api: string, name: string, match: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text()
  return text.split('\n').filter(l => l.startsWith(name) && l.includes(match)).reduce((n, l) => n + Number(l.split(' ').pop()), 0)
}

async function publish (api: string, skillDir: string, key: Awaited<ReturnType<typeof createAuthorKey>>): Promise<void> {
  const p = await packSkill(skillDir)
  const release = await signRelease(key.privateKey, { name: p.manifest.name, version: p.manifest.version, cid: p.cid.toString(), size: p.size, publishedAt: Date.now(), manifestDigest: manifestDigest(p.manifest) })
  await getJson(`${api}/v1/skills/publish`, { release, manifest: p.manifest, bundle: Buffer.from(p.bytes).toString('base64') })
}

interface Done { state: string, durationMs: number, timings: { offerToAssignMs: number, fetchMs: number, sandboxMs: number, resultMs: number } | null, executor: string }

async function runBatch (mesh: Mesh, count: number, log: (l: string) => void): Promise<{ done: Done[], elapsedMs: number }> {
  const t0 = performance.now()
  const ids = await Promise.all(Array.from({ length: count }, async (_x, i) => {
    const api = mesh.infos[i % mesh.infos.length].api
    return { api, id: (await getJson<{ id: string }>(`${api}/v1/tasks`, { skill: 'trivial', input: { i } })).id }
  }))
  const done = new Map<string, Done>()
  while (done.size < ids.length) {
    for (const { api, id } of ids) {
      if (done.has(id)) continue
      const t = await getJson<Done & { state: string }>(`${api}/v1/tasks/${id}`)
      if (['succeeded', 'failed', 'cancelled'].includes(t.state)) done.set(id, t)
    }
    if (performance.now() - t0 > 600_000) throw new Error(`only ${done.size} of ${ids.length} tasks finished in 10 minutes`)
    if (done.size < ids.length) await new Promise(resolve => setTimeout(resolve, 200))
  }
  const elapsedMs = performance.now() - t0
  log(`  ${ids.length} tasks finished in ${(elapsedMs / 1000).toFixed(1)} s`)
  return { done: [...done.values()], elapsedMs }
}

async function cliRun (dir: string): Promise<number> {
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [AAS_BIN, 'skill', 'run', dir, '--input', '{"i":0}', '--json'], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    child.on('close', (code) => { code === 0 ? resolve() : reject(new Error(`aas skill run exited ${String(code)}`)) })
  })
  return performance.now() - t0
}

const benchmark: Benchmark = {
  name: 'tasks',
  description: `${TASKS} trivial tasks on a 3-node mesh vs aas skill run back to back; gossip messages per task at 3 and 10 nodes`,
  async run (ctx: BenchContext): Promise<BenchResult[]> {
    const root = await mkdtemp(join(tmpdir(), 'aas-bench-tasks-'))
    const meshes: Mesh[] = []
    try {
      const key = await createAuthorKey(join(root, 'author.key'))
      const skill = join(root, 'trivial')
      await mkdir(skill)
      await writeFile(join(skill, 'skill.json'), JSON.stringify({ name: 'trivial', version: '1.0.0', description: 'reads its input, prints {"ok":true}', runtime: 'sh', entrypoint: 'run.sh', resources: { memoryMB: 64, pids: 16, timeoutS: 30 } }))
      await writeFile(join(skill, 'run.sh'), SKILL_SH)

      ctx.log('tasks: baseline, aas skill run back to back')
      await cliRun(skill)
      const baseline: number[] = []
      for (let i = 0; i < BASELINE_RUNS; i++) baseline.push(await cliRun(skill))

      ctx.log('tasks: 3-node mesh')
      const m3 = await startMesh(root, 3, key.publicKey, 2)
      meshes.push(m3)
      await publish(m3.infos[0].api, skill, key)
      await new Promise(resolve => setTimeout(resolve, 1000))
      await runBatch(m3, 6, ctx.log) // warm-up: every node fetches the skill once
      // one task at a time: submit-to-result latency without queueing (DESIGN's P1)
      const single: number[] = []
      for (let i = 0; i < BASELINE_RUNS; i++) single.push((await runBatch(m3, 1, () => {})).done[0].durationMs)
      const pub0 = (await Promise.all(m3.infos.map(async i => await metric(i.api, 'aas_gossip_published_total', `topic="${TASK_TOPIC}"`)))).reduce((a, b) => a + b, 0)
      const acc0 = (await Promise.all(m3.infos.map(async i => await metric(i.api, 'aas_gossip_messages_total', `topic="${TASK_TOPIC}",result="accept"`)))).reduce((a, b) => a + b, 0)
      const { done, elapsedMs } = await runBatch(m3, TASKS, ctx.log)
      const pub3 = (await Promise.all(m3.infos.map(async i => await metric(i.api, 'aas_gossip_published_total', `topic="${TASK_TOPIC}"`)))).reduce((a, b) => a + b, 0) - pub0
      const acc3 = (await Promise.all(m3.infos.map(async i => await metric(i.api, 'aas_gossip_messages_total', `topic="${TASK_TOPIC}",result="accept"`)))).reduce((a, b) => a + b, 0) - acc0
      const ok = done.filter(d => d.state === 'succeeded')
      const latencies = ok.map(d => d.durationMs)
      const part = (k: keyof NonNullable<Done['timings']>): number => Math.round(median(ok.map(d => d.timings?.[k] ?? 0)))
      const executors = new Set(ok.map(d => d.executor)).size
      for (const n of m3.nodes) await n.stop()
      meshes.length = 0

      ctx.log('tasks: 10-node mesh, gossip per task')
      const m10 = await startMesh(root, 10, key.publicKey, 1)
      meshes.push(m10)
      await publish(m10.infos[0].api, skill, key)
      await new Promise(resolve => setTimeout(resolve, 1500))
      await runBatch(m10, 10, ctx.log)
      const p0 = (await Promise.all(m10.infos.map(async i => await metric(i.api, 'aas_gossip_published_total', `topic="${TASK_TOPIC}"`)))).reduce((a, b) => a + b, 0)
      const a0 = (await Promise.all(m10.infos.map(async i => await metric(i.api, 'aas_gossip_messages_total', `topic="${TASK_TOPIC}",result="accept"`)))).reduce((a, b) => a + b, 0)
      const batch10 = 40
      await runBatch(m10, batch10, ctx.log)
      const pub10 = (await Promise.all(m10.infos.map(async i => await metric(i.api, 'aas_gossip_published_total', `topic="${TASK_TOPIC}"`)))).reduce((a, b) => a + b, 0) - p0
      const acc10 = (await Promise.all(m10.infos.map(async i => await metric(i.api, 'aas_gossip_messages_total', `topic="${TASK_TOPIC}",result="accept"`)))).reduce((a, b) => a + b, 0) - a0

      const r2 = (x: number): number => Math.round(x * 100) / 100
      return [
        {
          name: 'task-latency-single',
          unit: 'ms',
          samples: single,
          baseline,
          extra: { p99: Math.round(percentile(single, 99)), baselineIs: 'aas skill run back to back on one node (a CLI process each)' }
        },
        {
          name: 'task-throughput',
          unit: 'tasks/s',
          samples: [TASKS / (elapsedMs / 1000)],
          baseline: [1000 / median(baseline)],
          extra: {
            tasks: TASKS,
            succeeded: ok.length,
            executors,
            p50Ms: Math.round(median(latencies)),
            p99Ms: Math.round(percentile(latencies, 99)),
            baselineRunMs: Math.round(median(baseline)),
            offerBidAssignMs: part('offerToAssignMs'),
            fetchMs: part('fetchMs'),
            sandboxMs: part('sandboxMs'),
            resultReturnMs: part('resultMs'),
            baselineIs: 'aas skill run back to back on one node; latencies include queueing (all submitted at once)'
          }
        },
        {
          name: 'task-gossip-per-task',
          unit: 'messages',
          samples: [pub10 / batch10],
          baseline: [pub3 / TASKS],
          extra: { at3: r2(pub3 / TASKS), at10: r2(pub10 / batch10), deliveriesAt3: r2(acc3 / TASKS), deliveriesAt10: r2(acc10 / batch10), baselineIs: 'published per task at 3 nodes (value: at 10)' }
        }
      ]
    } finally {
      for (const m of meshes) await Promise.allSettled(m.nodes.map(async n => { await n.stop() }))
      await rmTree(root)
    }
  }
}

export default benchmark

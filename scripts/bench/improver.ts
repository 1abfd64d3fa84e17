import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { URI, type TOTP } from 'otpauth'
import { manifestDigest, signRelease } from '../../protocol/index.js'
import { packSkill, rmTree } from '../../skills/bundle/index.js'
import { createAuthorKey } from '../../skills/keys.js'
import { AAS_BIN, ChildNode, childEnv, type ChildNodeInfo } from '../lib/child-node.js'
import { LocalTeam } from '../lib/team.js'
import { bootstrapOf } from '../lib/topology.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'

/**
 * improver: does the mesh need fewer people and fewer retries as it learns (issue 11)? One
 * generated workload — 5 rounds of 100 tasks, 500 in all — replayed on a fresh 3-node mesh
 * (real node processes, real sandboxes) twice in the same run: with the SelfImprover on, and
 * with every rule off. Tasks go to node 0 (the origin: what it learns is its own), at most 6
 * in flight (as many as the mesh has slots), shuffled; each asks for 2 attempts and review on failure. After each round a
 * scripted reviewer (a person with the reviewer role, logged in with password and TOTP)
 * resolves the queue: the recurring "needs a person" inputs with "reuse", the foreign-language
 * ones with a fix `{input: {lang: "en"}}`.
 *
 * Each round: 40 easy inputs (new each round); 15 inputs that need a person (the same 15 every
 * round); 10 foreign-language inputs that need a person (new each round, one failure
 * signature); 20 tasks of a slow skill that node 2 cannot run in time (its sandbox allows 2 s:
 * a flaky executor for that skill); 15 tasks of a parser whose release 1.1.0, published before
 * round 2, fails every real input (a regressed release; 1.0.0 is good).
 *
 * Per round and mode it prints the share of tasks escalated to a person, retries per task
 * (attempts beyond the first) and the mean time from submission to result (a reviewer's
 * answer included). Expected shape: on, the last round's escalated share is at most half the
 * first round's and at most half the "off" run's last round. `--rounds N` below 5 runs only the
 * first N rounds (a quick look; the workload is 500 tasks only with all 5).
 */
const ROUNDS = 5
const IN_FLIGHT = 6
const MIX = { easy: 40, human: 15, foreign: 10, slow: 20, parse: 15 } as const
type Kind = keyof typeof MIX
const PASSWORD = 'bench-reviewer-password'

const mean = (xs: number[]): number => xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length

interface Planned { kind: Kind, skill: string, input: Record<string, unknown> }
interface Outcome { kind: Kind, state: string, escalated: boolean, attempts: number, ms: number, learned: string[] }
interface RoundStats { escalated: number, retries: number, meanMs: number, learned: Record<string, number>, tasks: number, byKind: Record<string, number> }

const SKILLS: Record<string, { version: string, py: string, input: object, output: object, timeoutS: number }> = {
  'imp-count': {
    version: '1.0.0',
    py: `import json, sys
d = json.load(sys.stdin)
if d.get("human"):
    print(json.dumps({"needsHuman": {"reason": "this text needs a person to read it"}}))
elif d.get("lang", "en") != "en":
    print(json.dumps({"needsHuman": {"reason": "unsupported language: " + d["lang"]}}))
else:
    print(json.dumps({"words": len(d["text"].split())}))
`,
    input: { text: { type: 'string' }, lang: { type: 'string' }, human: { type: 'boolean' } },
    output: { words: { type: 'integer' } },
    timeoutS: 20
  },
  'imp-slow': {
    version: '1.0.0',
    py: `import json, sys, time
d = json.load(sys.stdin)
time.sleep(2.5)
print(json.dumps({"words": len(d["text"].split())}))
`,
    input: { text: { type: 'string' } },
    output: { words: { type: 'integer' } },
    timeoutS: 20
  },
  'imp-parse': {
    version: '1.0.0',
    py: `import json, sys
d = json.load(sys.stdin)
print(json.dumps({"words": len(d["text"].split(","))}))
`,
    input: { text: { type: 'string' } },
    output: { words: { type: 'integer' } },
    timeoutS: 20
  }
}

/** 1.1.0 of the parser: passes its test (two fields) and fails every longer input. */
const REGRESSED_PY = `import json, sys
d = json.load(sys.stdin)
if len(d["text"].split(",")) > 2:
    print("ValueError: bad header at line 3", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"words": len(d["text"].split(","))}))
`

async function writeSkill (root: string, name: string, version: string, py: string): Promise<string> {
  const s = SKILLS[name]
  const dir = join(root, `${name}-${version}`)
  await mkdir(dir)
  await writeFile(join(dir, 'main.py'), py)
  await writeFile(join(dir, 'skill.json'), JSON.stringify({
    name,
    version,
    description: `improver benchmark skill ${name}`,
    runtime: 'python3',
    entrypoint: 'main.py',
    resources: { memoryMB: 64, pids: 16, timeoutS: s.timeoutS },
    inputSchema: { type: 'object', required: ['text'], additionalProperties: false, properties: s.input },
    outputSchema: { type: 'object', required: ['words'], additionalProperties: false, properties: s.output },
    tests: [{ input: { text: name === 'imp-parse' ? 'a,b' : 'a b' }, expect: { words: 2 } }]
  }))
  return dir
}

/** A deterministic shuffle (a small LCG): both modes replay the very same workload. */
function shuffle<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

function plan (round: number): Planned[] {
  const words = (n: number, tag: string): string => Array.from({ length: n }, (_x, i) => `${tag}${i}`).join(' ')
  const tasks: Planned[] = []
  for (let i = 0; i < MIX.easy; i++) tasks.push({ kind: 'easy', skill: 'imp-count', input: { text: words(2 + (i % 5), `r${round}e${i}w`) } })
  for (let i = 0; i < MIX.human; i++) tasks.push({ kind: 'human', skill: 'imp-count', input: { text: words(3, `hard${i}w`), human: true } })
  for (let i = 0; i < MIX.foreign; i++) tasks.push({ kind: 'foreign', skill: 'imp-count', input: { text: words(4, `r${round}f${i}w`), lang: 'xx' } })
  for (let i = 0; i < MIX.slow; i++) tasks.push({ kind: 'slow', skill: 'imp-slow', input: { text: words(2, `r${round}s${i}w`) } })
  for (let i = 0; i < MIX.parse; i++) tasks.push({ kind: 'parse', skill: 'imp-parse', input: { text: Array.from({ length: 4 }, (_x, j) => `r${round}p${i}c${j}`).join(',') } })
  return shuffle(tasks, 7919 * (round + 1))
}

async function http<T> (url: string, init: { method?: string, body?: unknown, headers?: Record<string, string> } = {}): Promise<{ status: number, body: T, headers: Headers }> {
  const res = await fetch(url, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {})
  })
  const text = await res.text()
  return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T, headers: res.headers }
}

async function ok<T> (url: string, init: { method?: string, body?: unknown, headers?: Record<string, string> } = {}): Promise<T> {
  const r = await http<T>(url, init)
  if (r.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

async function aas (args: string[], input = ''): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AAS_BIN, ...args], { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += String(d) })
    child.stderr.on('data', (d) => { err += String(d) })
    child.on('close', (code) => { code === 0 ? resolve(out) : reject(new Error(`aas ${args.slice(0, 2).join(' ')} exited ${String(code)}: ${err.trim()}`)) })
    child.stdin.end(input)
  })
}

interface Mesh { nodes: ChildNode[], infos: ChildNodeInfo[], dirs: string[] }

type TeamFlags = (dataDir: string) => Promise<string[]>

/** One team made for the run (a node with no team accepts nothing from peers); each node admitted. */
async function teamFlags (root: string): Promise<TeamFlags> {
  const team = await LocalTeam.create(join(root, 'team'), 'bench-improver')
  return async (dataDir) => await team.nodeArgs(dataDir)
}

/**
 * Three nodes, each executing (2 slots), in one team; node 2's sandbox
 * allows 2 s a run. The SelfImprover is on or off in all of them.
 */
async function startMesh (root: string, mode: string, author: string, on: boolean, team: TeamFlags): Promise<Mesh> {
  const nodes: ChildNode[] = []
  const infos: ChildNodeInfo[] = []
  const dirs: string[] = []
  const dial: string[] = []
  for (let i = 0; i < 3; i++) {
    const dataDir = join(root, `${mode}-n${i}`)
    const config = join(root, `${mode}-n${i}.json`)
    const improver = { reuse: on, routing: on, quarantine: on, fixHints: on }
    const sandbox = i === 2 ? { defaults: { timeoutS: 2 }, max: { timeoutS: 2 } } : {}
    // a bid window long enough for every free executor's bid to arrive on a loaded machine
    await writeFile(config, JSON.stringify({ improver, sandbox, tasks: { defaultAttempts: 2, bidWindowMs: 150 } }))
    const n = new ChildNode({ dataDir, listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0', bootstrap: bootstrapOf(i).map(j => dial[j]), logLevel: 'warn', args: ['--config', config, '--trust-author', author, '--slots', '2', ...await team(dataDir)] })
    nodes.push(n)
    const info = await n.started()
    infos.push(info)
    dirs.push(dataDir)
    dial.push(info.addresses.find(a => a.startsWith('/ip4/127.0.0.1/')) ?? info.addresses[0])
  }
  const until = Date.now() + 60_000
  for (;;) {
    const peers = await Promise.all(infos.map(async i => (await ok<{ peers: string[] }>(`${i.api}/v1/node`)).peers.length))
    if (peers.every(p => p >= 2)) break
    if (Date.now() > until) throw new Error('mesh did not form')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return { nodes, infos, dirs }
}

async function publish (api: string, dir: string, key: Awaited<ReturnType<typeof createAuthorKey>>): Promise<void> {
  const p = await packSkill(dir)
  const release = await signRelease(key.privateKey, { name: p.manifest.name, version: p.manifest.version, cid: p.cid.toString(), size: p.size, publishedAt: Date.now(), manifestDigest: manifestDigest(p.manifest) })
  await ok(`${api}/v1/skills/publish`, { body: { release, manifest: p.manifest, bundle: Buffer.from(p.bytes).toString('base64') } })
}

/** Waits until every node's index has `name@version`. */
async function indexed (mesh: Mesh, ref: string): Promise<void> {
  const until = Date.now() + 30_000
  while (Date.now() < until) {
    const found = await Promise.all(mesh.infos.map(async i => (await http(`${i.api}/v1/skills/${encodeURIComponent(ref)}`)).status === 200))
    if (found.every(Boolean)) return
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`${ref} did not reach every node`)
}

/** A reviewer on the origin, logged in: their session cookie and CSRF token. */
async function reviewer (mesh: Mesh): Promise<{ headers: Record<string, string> }> {
  const added = JSON.parse(await aas(['user', 'add', 'rita', '--role', 'reviewer', '--password-stdin', '--data', mesh.dirs[0], '--json'], PASSWORD + '\n')) as { otpauthUri: string }
  const code = (URI.parse(added.otpauthUri) as TOTP).generate()
  const r = await http<{ csrf: string }>(`${mesh.infos[0].api}/v1/auth/login`, { body: { user: 'rita', password: PASSWORD, code } })
  if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`)
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]
  return { headers: { cookie, 'x-csrf-token': r.body.csrf } }
}

/** Submits the round's tasks (at most IN_FLIGHT open), until each has ended or waits for a person. */
async function runRound (api: string, tasks: Planned[], signal: AbortSignal): Promise<Map<string, Planned & { t0: number }>> {
  const open = new Map<string, Planned & { t0: number }>()
  const all = new Map<string, Planned & { t0: number }>()
  let next = 0
  const started = performance.now()
  while (next < tasks.length || open.size > 0) {
    if (signal.aborted) throw new Error('interrupted')
    while (next < tasks.length && open.size < IN_FLIGHT) {
      const p = tasks[next++]
      const { id } = await ok<{ id: string }>(`${api}/v1/tasks`, { body: { skill: p.skill, input: p.input, attempts: 2, onFailure: 'review', timeoutS: 120 } })
      open.set(id, { ...p, t0: performance.now() })
      all.set(id, open.get(id)!)
    }
    await new Promise(resolve => setTimeout(resolve, 150))
    await Promise.all([...open.keys()].map(async (id) => {
      const t = await ok<{ state: string }>(`${api}/v1/tasks/${id}`)
      if (['succeeded', 'failed', 'resolved', 'cancelled', 'needs-review'].includes(t.state)) open.delete(id)
    }))
    if (performance.now() - started > 900_000) throw new Error(`a round took over 15 minutes (${open.size} tasks still open)`)
  }
  return all
}

/** The scripted reviewer: every task in the queue, answered as a person would. */
async function review (api: string, session: { headers: Record<string, string> }, planned: Map<string, Planned>): Promise<number> {
  const { tasks } = await ok<{ tasks: Array<{ id: string }> }>(`${api}/v1/review/queue`, session)
  for (const { id } of tasks) {
    const p = planned.get(id)
    const text = String(p?.input.text ?? '')
    const words = p?.skill === 'imp-parse' ? text.split(',').length : text.split(' ').length
    await ok(`${api}/v1/review/tasks/${id}/claim`, { ...session, method: 'POST', body: {} })
    const body: Record<string, unknown> = { output: { words }, annotation: `benchmark reviewer: ${p?.kind ?? 'unknown'}` }
    if (p?.kind === 'human') body.reuse = true
    if (p?.kind === 'foreign') body.fix = { input: { lang: 'en' } }
    await ok(`${api}/v1/review/tasks/${id}/resolve`, { ...session, method: 'POST', body })
  }
  return tasks.length
}

async function outcomes (api: string, planned: Map<string, Planned>): Promise<Outcome[]> {
  return await Promise.all([...planned].map(async ([id, p]) => {
    const t = await ok<{ state: string, attempts: number, durationMs: number | null, history: Array<{ state: string, learned?: { rule: string } }> }>(`${api}/v1/tasks/${id}`)
    return {
      kind: p.kind,
      state: t.state,
      escalated: t.history.some(h => h.state === 'needs-review'),
      attempts: t.attempts,
      ms: t.durationMs ?? 0,
      learned: t.history.filter(h => h.learned != null).map(h => h.learned!.rule)
    }
  }))
}

function stats (out: Outcome[]): RoundStats {
  const learned: Record<string, number> = {}
  for (const o of out) for (const r of o.learned) learned[r] = (learned[r] ?? 0) + 1
  const byKind: Record<string, number> = {}
  for (const o of out) if (o.escalated) byKind[o.kind] = (byKind[o.kind] ?? 0) + 1
  return {
    tasks: out.length,
    escalated: out.filter(o => o.escalated).length / out.length,
    retries: out.reduce((n, o) => n + Math.max(0, o.attempts - 1), 0) / out.length,
    meanMs: mean(out.map(o => o.ms)),
    learned,
    byKind
  }
}

async function runMode (root: string, mode: 'on' | 'off', key: Awaited<ReturnType<typeof createAuthorKey>>, dirs: Record<string, string>, count: number, team: TeamFlags, ctx: BenchContext): Promise<RoundStats[]> {
  ctx.log(`improver: SelfImprover ${mode}, 3-node mesh`)
  const mesh = await startMesh(root, mode, key.publicKey, mode === 'on', team)
  try {
    const api = mesh.infos[0].api
    for (const name of Object.keys(SKILLS)) await publish(api, dirs[name], key)
    for (const name of Object.keys(SKILLS)) await indexed(mesh, `${name}@1.0.0`)
    const session = await reviewer(mesh)
    const rounds: RoundStats[] = []
    for (let r = 1; r <= count; r++) {
      if (r === 2) {
        await publish(api, dirs.regressed, key)
        await indexed(mesh, 'imp-parse@1.1.0')
      }
      const t0 = performance.now()
      const planned = await runRound(api, plan(r), ctx.signal)
      const reviewed = await review(api, session, planned)
      const s = stats(await outcomes(api, planned))
      rounds.push(s)
      const learned = Object.entries(s.learned).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
      const why = Object.entries(s.byKind).map(([k, v]) => `${k} ${v}`).join(', ')
      ctx.log(`improver ${mode} round ${r}: escalated ${(s.escalated * 100).toFixed(0)}% (${reviewed} reviewed${why !== '' ? `: ${why}` : ''}), retries/task ${s.retries.toFixed(2)}, mean time to result ${(s.meanMs / 1000).toFixed(1)} s; learned: ${learned}; ${((performance.now() - t0) / 1000).toFixed(0)} s`)
    }
    return rounds
  } finally {
    await Promise.allSettled(mesh.nodes.map(async n => { await n.stop() }))
  }
}

const benchmark: Benchmark = {
  name: 'improver',
  description: `${ROUNDS} rounds of 100 tasks with recurring hard inputs on a 3-node mesh, SelfImprover on vs off: escalated share, retries, time to result`,
  async run (ctx: BenchContext): Promise<BenchResult[]> {
    const root = await mkdtemp(join(tmpdir(), 'aas-bench-improver-'))
    try {
      const key = await createAuthorKey(join(root, 'author.key'))
      const dirs: Record<string, string> = {}
      for (const [name, s] of Object.entries(SKILLS)) dirs[name] = await writeSkill(root, name, s.version, s.py)
      dirs.regressed = await writeSkill(root, 'imp-parse', '1.1.0', REGRESSED_PY)

      const rounds = Math.max(1, Math.min(ROUNDS, ctx.rounds))
      const team = await teamFlags(root)
      const on = await runMode(root, 'on', key, dirs, rounds, team, ctx)
      const off = await runMode(root, 'off', key, dirs, rounds, team, ctx)

      ctx.log('improver: round  escalated on/off   retries/task on/off   mean time to result on/off')
      for (let r = 0; r < rounds; r++) {
        ctx.log(`improver: ${String(r + 1).padStart(5)}  ${(on[r].escalated * 100).toFixed(0).padStart(5)}% / ${(off[r].escalated * 100).toFixed(0).padStart(3)}%   ${on[r].retries.toFixed(2).padStart(9)} / ${off[r].retries.toFixed(2)}   ${(on[r].meanMs / 1000).toFixed(1).padStart(14)} s / ${(off[r].meanMs / 1000).toFixed(1)} s`)
      }
      const last = rounds - 1
      const pct = (x: number): number => Math.round(x * 1000) / 10
      const shape = on[last].escalated <= on[0].escalated / 2 && on[last].escalated <= off[last].escalated / 2
      ctx.log(`improver: expected shape (on: last round escalated ≤ half the first's and ≤ half of off's last) ${shape ? 'holds' : 'DOES NOT HOLD'}`)
      return [
        {
          name: 'improver-escalated-last-round',
          unit: '%',
          samples: [pct(on[last].escalated)],
          baseline: [pct(off[last].escalated)],
          extra: { onFirstRound: pct(on[0].escalated), offFirstRound: pct(off[0].escalated), shape: shape ? 'holds' : 'does-not-hold', tasks: rounds * 100, baselineIs: 'the same workload with every SelfImprover rule off' }
        },
        {
          name: 'improver-escalated-per-round',
          unit: '%',
          samples: on.map(s => pct(s.escalated)),
          baseline: off.map(s => pct(s.escalated)),
          extra: { on: on.map(s => pct(s.escalated)).join('/'), off: off.map(s => pct(s.escalated)).join('/') }
        },
        {
          name: 'improver-retries-per-task',
          unit: 'retries',
          samples: on.map(s => s.retries),
          baseline: off.map(s => s.retries),
          extra: { on: on.map(s => s.retries.toFixed(2)).join('/'), off: off.map(s => s.retries.toFixed(2)).join('/') }
        },
        {
          name: 'improver-time-to-result',
          unit: 'ms',
          samples: on.map(s => Math.round(s.meanMs)),
          baseline: off.map(s => Math.round(s.meanMs)),
          extra: { on: on.map(s => (s.meanMs / 1000).toFixed(1)).join('/'), off: off.map(s => (s.meanMs / 1000).toFixed(1)).join('/'), unitOfExtra: 's' }
        }
      ]
    } finally {
      await rmTree(root)
    }
  }
}

export default benchmark

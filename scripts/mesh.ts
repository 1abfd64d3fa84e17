import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { EXIT_USAGE, parseScriptArgs } from './lib/args.js'
import { ChildNode, type ChildNodeInfo } from './lib/child-node.js'
import { bootstrapOf } from './lib/topology.js'
import { LocalTeam } from './lib/team.js'

/**
 * `npm run mesh -- --nodes N [--base-port P] [--data-root DIR]`: a local mesh of N real AAS
 * nodes, each an `aas node start` process with its own data dir and ports on loopback, wired
 * as lib/topology.ts says (node 0 first; node i bootstraps to node 0 and node ⌊i/2⌋).
 * Prints each node's peer id and API, says "ready" once every node holds min(2, N-1) peers,
 * and runs until Ctrl-C/SIGTERM, when it stops every node (SIGTERM, SIGKILL after 5 s) and
 * exits 0. A node that dies on its own is reported; exit codes: 1 a node failed, 2 bad usage.
 */
const EXIT_FAILED = 1
const POLL_MS = 250
/** After this long without the mesh being ready, say which nodes lack peers. */
const SLOW_READY_MS = 30_000

interface MeshOptions { nodes: number, basePort?: number, dataRoot?: string, logLevel: string, trustAuthor?: string[], slots?: number }

interface Member { index: number, child: ChildNode, info?: ChildNodeInfo, dialAddr?: string }

function positiveInt (max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`)
    return n
  }
}

function parseArgs (argv: string[]): MeshOptions | number {
  const program = new Command('mesh')
    .description('run a local mesh of N AAS nodes until Ctrl-C')
    .requiredOption('--nodes <n>', 'how many nodes', positiveInt(100))
    .option('--base-port <port>', 'node i listens on PORT+2i (libp2p) and PORT+2i+1 (API) [default: free ports]', positiveInt(65_000))
    .option('--data-root <dir>', 'keep node i\'s data in DIR/node-i [default: a temp dir, removed at exit]')
    .option('--trust-author <key>', 'every node trusts this skill author (z6Mk…), repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--slots <n>', 'task slots of each node [default: CPU count]', (v: string) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 0 || n > 1024) throw new InvalidArgumentError('must be a whole number from 0 to 1024')
      return n
    })
    .addOption(new Option('--log-level <level>', 'log level of the nodes (their logs are shown if they die)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('warn'))
  const exit = parseScriptArgs(program, argv)
  if (exit != null) return exit
  const opts = program.opts<MeshOptions>()
  if (opts.basePort != null && opts.basePort + 2 * opts.nodes > 65_535) {
    process.stderr.write(`mesh: --base-port ${opts.basePort} leaves no room for ${opts.nodes} nodes (2 ports each)\n`)
    return EXIT_USAGE
  }
  return opts
}

/** The loopback TCP address of a started node, with /p2p/<id>: what others bootstrap to. */
function dialAddress (info: ChildNodeInfo): string {
  const a = info.addresses.find(x => x.startsWith('/ip4/127.0.0.1/tcp/')) ?? info.addresses[0]
  if (a == null) throw new Error(`node ${info.peerId} reported no listen address`)
  return a.includes('/p2p/') ? a : `${a}/p2p/${info.peerId}`
}

async function peerCount (api: string): Promise<number> {
  const res = await fetch(`${api}/v1/node`, { signal: AbortSignal.timeout(2_000) })
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  const info = await res.json() as { peers: string[] }
  return info.peers.length
}

async function main (argv: string[]): Promise<number> {
  const opts = parseArgs(argv)
  if (typeof opts === 'number') return opts
  const n = opts.nodes
  const ownRoot = opts.dataRoot == null
  const root = ownRoot ? await mkdtemp(join(tmpdir(), 'aas-mesh-')) : resolve(opts.dataRoot!)
  await mkdir(root, { recursive: true })
  const members: Member[] = []
  let stopping = false

  const out = (line: string): void => { process.stdout.write(`${line}\n`) }
  const err = (line: string): void => { process.stderr.write(`${line}\n`) }
  const living = (): Member[] => members.filter(m => m.child.running)

  // Ctrl-C/SIGTERM: stop every node, gently then not; a second signal kills at once.
  const shutdown = async (code: number): Promise<never> => {
    stopping = true
    const alive = living()
    if (alive.length > 0) out(`mesh: stopping ${alive.length} node(s)`)
    await Promise.all(members.map(async m => { await m.child.stop() }))
    if (ownRoot) await rm(root, { recursive: true, force: true })
    out('mesh: stopped')
    process.exit(code)
  }
  const onSignal = (): void => {
    if (stopping) { members.forEach(m => { m.child.kill() }); return }
    void shutdown(0)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // last resort if this process ends some other way: no node outlives it
  process.on('exit', () => { members.forEach(m => { m.child.kill() }) })

  // one team for the whole mesh (kept in DATA-ROOT/team: its root key signs more certificates)
  const team = await LocalTeam.create(join(root, 'team'), 'mesh')
  out(`mesh: starting ${n} node(s); data in ${root}${ownRoot ? ' (removed at exit)' : ''}`)
  out(`mesh: the nodes are team "mesh" (${join(root, 'team', 'team.json')}; its root key team.key beside it admits more)`)
  const started: Array<Promise<string>> = []
  const startOne = async (i: number): Promise<string> => {
    const bootstrap = await Promise.all(bootstrapOf(i).map(async j => await started[j]))
    if (stopping) throw new Error('stopping')
    const port = opts.basePort == null ? 0 : opts.basePort + 2 * i
    const teamArgs = await team.nodeArgs(join(root, `node-${i}`))
    const child = new ChildNode({
      dataDir: join(root, `node-${i}`),
      listen: `/ip4/127.0.0.1/tcp/${port}`,
      api: `127.0.0.1:${port === 0 ? 0 : port + 1}`,
      bootstrap,
      logLevel: opts.logLevel,
      args: [...(opts.trustAuthor ?? []).flatMap(k => ['--trust-author', k]), ...(opts.slots != null ? ['--slots', String(opts.slots)] : []), ...teamArgs]
    })
    const member: Member = { index: i, child }
    members.push(member)
    member.info = await child.started()
    member.dialAddr = dialAddress(member.info)
    void child.exited.then(({ code, signal }) => {
      if (stopping) return
      err(`mesh: node-${i} (pid ${member.info!.pid}) exited unexpectedly (${signal ?? `code ${String(code)}`}); its last log lines:\n${member.child.lastLog() || '(none)'}`)
      if (living().length === 0) { err('mesh: no node is left running'); void shutdown(EXIT_FAILED) }
    })
    return member.dialAddr
  }
  for (let i = 0; i < n; i++) started.push(startOne(i))
  // Rejections are handled here, once: a node that could not start ends the mesh.
  const results = await Promise.allSettled(started)
  if (stopping) return await new Promise<never>(() => {}) // a signal arrived: shutdown exits
  const failed = results.findIndex(r => r.status === 'rejected')
  if (failed >= 0) {
    const reason = (results[failed] as PromiseRejectedResult).reason
    err(`mesh: node-${failed} failed to start: ${String(reason?.message ?? reason)}`)
    return await shutdown(EXIT_FAILED)
  }

  members.sort((a, b) => a.index - b.index)
  const rows = members.map(m => [`node-${m.index}`, String(m.info!.pid), m.info!.peerId, m.info!.api, m.dialAddr!])
  const head = ['node', 'pid', 'peer id', 'API', 'p2p address']
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map(r => r[c].length)))
  for (const r of [head, ...rows]) out(r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join('  '))

  const need = Math.min(2, n - 1)
  out(`mesh: waiting until every node has at least ${need} peer(s)`)
  const t0 = Date.now()
  let warned = false
  for (;;) {
    const alive = living()
    const counts = await Promise.all(alive.map(async m => await peerCount(m.info!.api).catch(() => -1)))
    if (stopping) return await new Promise<never>(() => {})
    const lacking = alive.filter((_, k) => counts[k] < Math.min(need, alive.length - 1))
    if (lacking.length === 0) break
    if (!warned && Date.now() - t0 > SLOW_READY_MS) {
      warned = true
      err(`mesh: still waiting after ${SLOW_READY_MS / 1000} s: ${lacking.map(m => `node-${m.index} has ${Math.max(0, counts[alive.indexOf(m)])} peer(s)`).join(', ')}`)
    }
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
  out(`mesh: ready: ${living().length} node(s), each with at least ${need} peer(s), in ${((Date.now() - t0) / 1000).toFixed(1)} s; Ctrl-C to stop`)
  return await new Promise<never>(() => {}) // runs until a signal; shutdown exits
}

main(process.argv).then(
  (code) => { process.exit(code) },
  (e) => { process.stderr.write(`mesh: ${String(e?.message ?? e)}\n`); process.exit(EXIT_FAILED) }
)

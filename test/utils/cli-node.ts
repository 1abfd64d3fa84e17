import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rmTree } from '../../skills/bundle/extract.js'
import { LocalTeam } from '../../scripts/lib/team.js'

/**
 * Real nodes for tests: `aas node start` as a child process through the real CLI, on
 * loopback, with its own data dir. Its first stdout line (--json) tells its peer id, API
 * and addresses.
 */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url))
export const AAS_BIN = join(REPO, 'bin', 'aas.js')

/** The environment children get: no host CA bundle (it slows every Node start). */
export function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  delete env.NODE_EXTRA_CA_CERTS
  for (const k of Object.keys(env)) if (k.startsWith('AAS_') && !(k in extra)) delete env[k]
  return env
}

export interface CliResult { code: number | null, stdout: string, stderr: string }

export interface RunCliOptions { env?: Record<string, string>, timeoutMs?: number, input?: string, uid?: number, gid?: number, cwd?: string, onStdout?: (soFar: string) => void }

/** Runs `aas ARGS…` to completion (`onStdout` sees what it printed so far, as it prints). */
export async function runCli (args: string[], opts: RunCliOptions = {}): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    const ids = opts.uid != null ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}
    const child = spawn(process.execPath, [AAS_BIN, ...args], { env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, ...ids })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += String(d); opts.onStdout?.(stdout) })
    child.stderr.on('data', (d) => { stderr += String(d) })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    child.stdin.end(opts.input ?? '')
  })
}

export interface CliNode {
  peerId: string
  api: string
  addresses: string[]
  dataDir: string
  process: ChildProcess
  /** Everything the node wrote on stderr so far. */
  stderr: () => string
  /** SIGTERM, wait for exit; returns the exit code. A data dir made for the node is removed. */
  stop: () => Promise<number | null>
  /** SIGKILL, wait for exit (the data dir stays, for a restart on it). */
  kill: () => Promise<void>
}

/**
 * The team every test node joins unless told otherwise (made once per test process): nodes of
 * one test talk to each other as a real team's would, certificates and all.
 */
let sharedTeam: Promise<LocalTeam> | undefined
export async function testTeam (): Promise<LocalTeam> {
  sharedTeam ??= LocalTeam.create(undefined, 'test')
  return await sharedTeam
}

export interface StartCliNodeOptions {
  /** The node's team: the shared test team by default; `null`: none (a team of one). */
  team?: LocalTeam | null
  dataDir?: string
  bootstrap?: string[]
  args?: string[]
  env?: Record<string, string>
  timeoutMs?: number
}

export async function startCliNode (opts: StartCliNodeOptions = {}): Promise<CliNode> {
  const ownDir = opts.dataDir == null
  const dataDir = opts.dataDir ?? await mkdtemp(join(tmpdir(), 'aas-node-'))
  // fetched skills are unpacked read-only: rmTree makes them writable first (non-root users)
  const cleanup = async (): Promise<void> => { if (ownDir) await rmTree(dataDir) }
  const args = [AAS_BIN, 'node', 'start', '--json', '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--log-level', 'warn']
  for (const b of opts.bootstrap ?? []) args.push('--bootstrap', b)
  const team = opts.team === undefined ? await testTeam() : opts.team
  // a node already admitted (a restart on its data dir) keeps its certificate
  if (team != null && !(opts.args ?? []).includes('--team')) args.push(...await team.nodeArgs(dataDir))
  args.push(...(opts.args ?? []))
  const child = spawn(process.execPath, args, { env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })

  const info = await new Promise<{ peerId: string, api: string, addresses: string[] }>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`node did not start in time: ${stderr}`)) }, opts.timeoutMs ?? 20_000)
    child.stdout.on('data', (d) => {
      buf += String(d)
      const nl = buf.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(JSON.parse(buf.slice(0, nl))) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node exited with ${String(code)}: ${stderr.trim()}`)) })
  })

  return {
    ...info,
    dataDir,
    process: child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode == null && child.signalCode == null) child.kill('SIGTERM')
      const code = await exited
      await cleanup()
      return code
    },
    kill: async () => {
      if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
      await exited
    }
  }
}

export async function getJson<T = any> (url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
  return await res.json() as T
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function waitFor<T> (check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < until) {
    try {
      const v = await check()
      if (v !== undefined && v !== false && v !== null) return v as T
    } catch (err) { last = err }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last != null ? `: ${String(last)}` : ''}`)
}

export async function tempDir (prefix = 'aas-test-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** A TCP port free on loopback now (for a node that must come back at the same address). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => { resolve(port) })
    })
  })
}

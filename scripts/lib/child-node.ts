import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * One AAS node as a child process, started through the real CLI (`aas node start --json`)
 * so a local mesh runs exactly what a user runs. The first stdout line tells the node's peer
 * id, API and addresses; its logs (stderr) are kept, the last few kilobytes, to show if it dies.
 */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url)) // from dist/scripts/lib/
export const AAS_BIN = join(REPO, 'bin', 'aas.js')

/**
 * The Node.js flags of the `aas` command's shebang (`#!/usr/bin/env -S node FLAGS`), e.g.
 * `--max-semi-space-size=2`: a child started as `node bin/aas.js` skips the shebang, and
 * without them measured an idle node ~35 MB larger than the `aas` a user runs (or the
 * systemd unit, which passes the same flags). Read from the file so the two cannot drift.
 */
export function aasNodeFlags (bin = AAS_BIN): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0]
  const m = /^#!.*\bnode((?:\s+--\S+)*)\s*$/.exec(first)
  return m == null ? [] : m[1].trim().split(/\s+/).filter(f => f !== '')
}

/** How long a node has to stop after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 5_000
const STDERR_TAIL_BYTES = 8 * 1024

/**
 * The child's environment: no NODE_EXTRA_CA_CERTS (loading a host CA bundle slows every
 * Node.js start by up to seconds) and no AAS_* variables (each node is configured by its
 * flags alone; an AAS_CONFIG or AAS_BOOTSTRAP of the caller's shell would leak into all).
 */
export function childEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_EXTRA_CA_CERTS
  for (const k of Object.keys(env)) if (k.startsWith('AAS_')) delete env[k]
  return env
}

export interface ChildNodeInit {
  dataDir: string
  listen: string
  api: string
  bootstrap: string[]
  logLevel: string
  /** More `aas node start` flags (e.g. --trust-author KEY, --slots N). */
  args?: string[]
  startTimeoutMs?: number
}

export interface ChildNodeInfo {
  pid: number
  peerId: string
  api: string
  addresses: string[]
}

export class ChildNode {
  readonly process: ChildProcess
  private stderrTail = ''
  /** Resolves when the process has exited (code, or the signal that ended it). */
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (init: ChildNodeInit) {
    const args = [...aasNodeFlags(), AAS_BIN, 'node', 'start', '--json', '--data', init.dataDir, '--listen', init.listen, '--api', init.api, '--log-level', init.logLevel]
    for (const b of init.bootstrap) args.push('--bootstrap', b)
    args.push(...(init.args ?? []))
    this.process = spawn(process.execPath, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    this.process.stderr!.on('data', (d) => { this.stderrTail = (this.stderrTail + String(d)).slice(-STDERR_TAIL_BYTES) })
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => { resolve({ code, signal }) })
    })
  }

  get running (): boolean {
    return this.process.exitCode == null && this.process.signalCode == null
  }

  /** The last lines the node logged. */
  lastLog (lines = 5): string {
    return this.stderrTail.trimEnd().split('\n').slice(-lines).join('\n')
  }

  /** Waits for the node's `--json` start line. */
  async started (timeoutMs = 30_000): Promise<ChildNodeInfo> {
    const stdout = this.process.stdout!
    return await new Promise((resolve, reject) => {
      let buf = ''
      const done = (err?: Error, info?: ChildNodeInfo): void => {
        clearTimeout(timer)
        stdout.off('data', onData)
        this.process.off('exit', onExit)
        stdout.resume() // nothing more is read; never let the pipe fill
        if (err != null) reject(err); else resolve(info!)
      }
      const onData = (d: Buffer): void => {
        buf += String(d)
        const nl = buf.indexOf('\n')
        if (nl < 0) return
        try {
          const runtime = JSON.parse(buf.slice(0, nl))
          done(undefined, { pid: this.process.pid!, peerId: runtime.peerId, api: runtime.api, addresses: runtime.addresses })
        } catch {
          done(new Error(`node printed something other than its --json start line: ${buf.slice(0, nl).slice(0, 200)}`))
        }
      }
      const onExit = (code: number | null, signal: string | null): void => {
        done(new Error(`node exited (${signal ?? `code ${String(code)}`}) before it started: ${this.lastLog(3) || '(no output)'}`))
      }
      const timer = setTimeout(() => { done(new Error(`node did not start within ${timeoutMs} ms: ${this.lastLog(3) || '(no output)'}`)) }, timeoutMs)
      stdout.on('data', onData)
      this.process.once('exit', onExit)
    })
  }

  /** SIGTERM, then SIGKILL if the node is still running after `graceMs`. */
  async stop (graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.running) this.process.kill('SIGTERM')
    const kill = setTimeout(() => { if (this.running) this.process.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(kill)
  }

  /** Immediate SIGKILL (a second Ctrl-C, or this process exiting). */
  kill (): void {
    if (this.running) this.process.kill('SIGKILL')
  }
}

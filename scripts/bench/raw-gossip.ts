import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { aasNodeFlags, childEnv } from '../lib/child-node.js'

/**
 * The baseline of gossip between node processes: two bare gossip peers (raw-gossip-peer.ts,
 * the node's libp2p host and nothing of AAS), each its own process with the node's V8
 * flags, one dialled to the other. A round publishes on one and resolves with the other's
 * own receive time minus the publish stamp: libp2p publish to receive, one hop.
 */
const PEER = fileURLToPath(new URL('./raw-gossip-peer.js', import.meta.url))
const ROUND_TIMEOUT_MS = 10_000

class Peer {
  readonly child: ChildProcess
  private readonly lines: Interface
  private readonly waiting: Array<{ prefix: string, resolve: (rest: string) => void }> = []
  /** Lines that came before anyone waited for them. */
  private readonly unread: string[] = []

  constructor () {
    this.child = spawn(process.execPath, [...aasNodeFlags(), PEER], { env: childEnv(), stdio: ['pipe', 'pipe', 'inherit'] })
    this.lines = createInterface({ input: this.child.stdout! })
    this.lines.on('line', (line) => {
      const i = this.waiting.findIndex(w => line.startsWith(w.prefix))
      if (i >= 0) this.waiting.splice(i, 1)[0].resolve(line); else this.unread.push(line)
    })
  }

  /** The next line that starts with `prefix`. */
  async next (prefix: string, timeoutMs = ROUND_TIMEOUT_MS): Promise<string> {
    const k = this.unread.findIndex(l => l.startsWith(prefix))
    if (k >= 0) return this.unread.splice(k, 1)[0]
    return await new Promise((resolve, reject) => {
      const w = { prefix, resolve: (line: string) => { clearTimeout(timer); resolve(line) } }
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(w)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(new Error(`raw gossip peer: no "${prefix}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.push(w)
    })
  }

  send (line: string): void { this.child.stdin!.write(line + '\n') }

  stop (): void { this.child.kill() }
}

export interface RawGossipPair {
  /** One publish on A; the delay to B's receipt, in ms. */
  round: () => Promise<number>
  /** The two processes (to read their RSS). */
  pids: { a: number, b: number }
  stop: () => void
}

export async function rawGossipPair (messageBytes: number): Promise<RawGossipPair> {
  const a = new Peer()
  const b = new Peer()
  try {
    const addrA = JSON.parse(await a.next('{')).addr as string
    await b.next('{')
    const dialled = b.next('dialled')
    b.send(`dial ${addrA}`)
    await dialled
    // until both have the other in their gossipsub mesh (a heartbeat grafts)
    const until = Date.now() + 30_000
    for (;;) {
      const ma = a.next('mesh'); a.send('mesh')
      const mb = b.next('mesh'); b.send('mesh')
      if (Number((await ma).split(' ')[1]) > 0 && Number((await mb).split(' ')[1]) > 0) break
      if (Date.now() > until) throw new Error('raw gossip peers formed no mesh in 30 s')
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  } catch (err) {
    a.stop(); b.stop()
    throw err
  }
  return {
    round: async () => {
      const got = b.next('recv')
      a.send(`pub ${messageBytes}`)
      return Number((await got).split(' ')[1])
    },
    pids: { a: a.child.pid!, b: b.child.pid! },
    stop: () => { a.stop(); b.stop() }
  }
}

import type { PeerId } from '@libp2p/interface'
import {
  decodeCanonical, encodeCanonical, GossipActionError, Protocols, ReplayGuard, taskAssign, taskClaim, taskDone,
  taskLease, taskOffer, taskResult, taskSubmit, validateDirectMessage, TASK_RESULT_MAX_BYTES,
  type FreshnessOptions, type MessageRegistry, type TaskClaimBody, type TaskLeaseBody, type TaskResultBody, type TaskSubmitBody
} from '../../protocol/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Host } from '../p2p/host.js'
import { rpcServe } from '../p2p/rpc.js'
import type { Logger } from '../log.js'
import type { TaskExecutor } from './executor.js'
import type { TaskOrigin } from './origin.js'
import { taskView } from './types.js'

/**
 * Wires the task parts to the network: the three gossip types go to the executor (offers,
 * assignments, completions), and the stream protocols — submit and status for CLI peers,
 * claim, lease and result for executors — go to the origin, each request checked as a signed
 * envelope (size, schema, clock, signature, replay) before anything reads it.
 */
export interface TaskServiceComponents {
  host: Host
  gossip: GossipRouter
  registry: MessageRegistry
  origin: TaskOrigin
  executor: TaskExecutor
  log: Logger
}

export class TaskService {
  private readonly replay: ReplayGuard

  constructor (private readonly c: TaskServiceComponents, private readonly freshness: FreshnessOptions) {
    this.replay = new ReplayGuard({ windowMs: freshness.maxAgeMs + freshness.maxFutureMs })
  }

  async start (): Promise<void> {
    const { c } = this
    c.gossip.handle(taskOffer, (msg) => { c.executor.onOffer(msg.envelope.body, msg.sender) })
    c.gossip.handle(taskAssign, (msg) => { const b = msg.envelope.body; c.executor.onAssigned(b.taskId, b.attempt, b.executor) })
    c.gossip.handle(taskDone, (msg) => { c.executor.onDone(msg.envelope.body.taskId) })

    await this.serve<TaskSubmitBody>(Protocols.taskSubmit, taskSubmit.type, taskSubmit.maxBytes, async (body, sender) => {
      const t = await c.origin.submit(body, sender)
      return { ok: true, id: t.id }
    })
    await rpcServe(c.host, Protocols.taskStatus, 1024, async (req) => {
      const { id } = decodeCanonical(req) as { id?: unknown }
      const t = typeof id === 'string' ? await c.origin.get(id) : undefined
      return encodeCanonical(t == null ? { ok: false, code: 'ERR_NOT_FOUND', message: `no task ${String(id)} on this node` } : { ok: true, task: JSON.parse(JSON.stringify(taskView(t))) })
    })
    await this.serve<TaskClaimBody>(Protocols.taskClaim, taskClaim.type, taskClaim.maxBytes, async (body, sender, from) => {
      if (sender !== from.toString()) return { won: false, reason: 'claim signer is not the connected peer' }
      return await c.origin.claim(body, sender)
    })
    await this.serve<TaskLeaseBody>(Protocols.taskLease, taskLease.type, taskLease.maxBytes, async (body, sender, from) => {
      if (sender !== from.toString()) return { ok: false, reason: 'renewal signer is not the connected peer' }
      return await c.origin.renew(body.taskId, body.attempt, sender)
    })
    await this.serve<TaskResultBody>(Protocols.taskResult, taskResult.type, TASK_RESULT_MAX_BYTES, async (body, sender) => {
      // a result may be relayed: what counts is who signed it
      return await c.origin.result(body, sender)
    })
  }

  private async serve<B> (protocol: string, type: string, maxBytes: number, fn: (body: B, sender: string, from: PeerId) => Promise<unknown>): Promise<void> {
    await rpcServe(this.c.host, protocol, maxBytes, async (req, from) => {
      try {
        const ok = await validateDirectMessage({ registry: this.c.registry, replay: this.replay, freshness: this.freshness, now: Date.now }, type, req)
        return encodeCanonical(JSON.parse(JSON.stringify(await fn(ok.envelope.body as B, ok.sender, from))))
      } catch (err: any) {
        if (err instanceof GossipActionError) return encodeCanonical({ ok: false, won: false, accepted: false, code: 'ERR_BAD_MESSAGE', message: err.message, reason: err.message })
        if (typeof err?.code === 'string' && err.name !== 'Error') return encodeCanonical({ ok: false, won: false, accepted: false, code: err.code, message: err.message, reason: err.message })
        this.c.log.warn({ err, protocol }, 'task request failed')
        return encodeCanonical({ ok: false, won: false, accepted: false, code: 'ERR_INTERNAL', message: 'internal error', reason: 'internal error' })
      }
    })
  }
}

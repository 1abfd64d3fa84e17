import {
  decodeCanonical, encodeCanonical, Protocols, taskAssign, taskDone, taskOffer
} from '../../protocol/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Host } from '../p2p/host.js'
import { rpcServe } from '../p2p/rpc.js'
import type { TaskExecutor } from './executor.js'
import type { TaskOrigin } from './origin/index.js'
import { taskView } from './types.js'
import { ORIGIN_WIRE, type OriginEndpoint, type OriginRequest } from './wire.js'

/**
 * Wires the task parts to the network: the three gossip types go to the executor (offers,
 * assignments, completions), and the stream protocols — submit for CLI peers, claim, lease and
 * result for executors — go to the origin's endpoint, which checks each signed envelope before
 * anything reads it. Status answers a task id with the task's view. Handlers registered in
 * `start` are removed in `stop`.
 */
export interface TaskServiceComponents {
  host: Host
  gossip: GossipRouter
  origin: TaskOrigin
  endpoint: OriginEndpoint
  executor: TaskExecutor
}

const REQUESTS: OriginRequest[] = ['submit', 'claim', 'lease', 'result']

export class TaskService {
  constructor (private readonly c: TaskServiceComponents) {}

  async start (): Promise<void> {
    const { c } = this
    c.gossip.handle(taskOffer, (msg) => { c.executor.onOffer(msg.envelope.body, msg.sender) })
    c.gossip.handle(taskAssign, (msg) => { const b = msg.envelope.body; c.executor.onAssigned(b.taskId, b.attempt, b.executor) })
    c.gossip.handle(taskDone, (msg) => { c.executor.onDone(msg.envelope.body.taskId) })
    for (const kind of REQUESTS) {
      const wire = ORIGIN_WIRE[kind]
      await rpcServe(c.host, wire.protocol, wire.maxBytes, async (req, from) => {
        return encodeCanonical(JSON.parse(JSON.stringify(await c.endpoint.handle(kind, req, from.toString()))))
      })
    }
    await rpcServe(c.host, Protocols.taskStatus, 1024, async (req) => {
      const { id } = decodeCanonical(req) as { id?: unknown }
      const t = typeof id === 'string' ? await c.origin.get(id) : undefined
      return encodeCanonical(t == null ? { ok: false, code: 'ERR_NOT_FOUND', message: `no task ${String(id)} on this node` } : { ok: true, task: JSON.parse(JSON.stringify(taskView(t))) })
    })
  }

  async stop (): Promise<void> {
    for (const p of [...REQUESTS.map(k => ORIGIN_WIRE[k].protocol), Protocols.taskStatus]) await this.c.host.unhandle(p).catch(() => {})
  }
}

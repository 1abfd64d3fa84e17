import {
  encodeCanonical, GossipAction, GossipActionError, RejectCode, taskAssign, taskDone, taskOffer,
  type TaskOfferBody, type ValidatedMessage
} from '../../protocol/index.js'
import type { Member } from '../../federation/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Host } from '../p2p/host.js'
import { rpcServe } from '../p2p/rpc.js'
import type { TaskExecutor } from './executor.js'
import type { TaskOrigin } from './origin/index.js'
import { ORIGIN_WIRE, type OriginEndpoint, type OriginRequest } from './wire.js'

/**
 * Wires the task parts to the network: the three gossip types go to the executor (offers,
 * assignments, completions), and the stream protocols — submit for CLI peers, claim, lease and
 * result for executors — go to the origin's endpoint, which checks each signed envelope before
 * anything reads it. Status answers a task id with the task's view. Handlers registered in
 * `start` are removed in `stop`.
 */
export interface TaskServiceComponents {
  /** The node's team topic, where its team tasks are gossiped (none: a team of one). */
  teamTopic?: string
  host: Host
  gossip: GossipRouter
  origin: TaskOrigin
  endpoint: OriginEndpoint
  executor: TaskExecutor
}

const REQUESTS: OriginRequest[] = ['submit', 'claim', 'lease', 'result', 'status']

/**
 * Who may offer a task here: the own team's origins (a `team` task on the team topic, a
 * `federation` one on the global topic), and partners granted `publish`, federation tasks only.
 */
export function admitOffer (msg: ValidatedMessage<TaskOfferBody>, teamTopic: string | undefined): void {
  const m = msg.member as Member | undefined
  const body = msg.envelope.body
  const onTeamTopic = msg.topic != null && msg.topic === teamTopic
  if (body.scope === 'team' && !onTeamTopic) throw new GossipActionError(GossipAction.REJECT, RejectCode.WRONG_TOPIC, 'a team task is offered on its team topic only')
  if (body.scope === 'federation' && onTeamTopic) throw new GossipActionError(GossipAction.REJECT, RejectCode.WRONG_TOPIC, 'a federation task is offered on the federation topic')
  // a partner's federation offer is fine by its team's rules; whether it runs here is this
  // node's grant: not granted is ignored (not forwarded), not held against the sender
  if (m != null && !m.own && body.scope !== 'federation') throw new GossipActionError(GossipAction.REJECT, RejectCode.NOT_GRANTED, 'a team task is its own team\'s only')
  if (m != null && !m.own && !m.grants.includes('publish')) throw new GossipActionError(GossipAction.IGNORE, RejectCode.NOT_GRANTED, `partner team "${m.team.name}" is not granted publish here`)
}

export class TaskService {
  constructor (private readonly c: TaskServiceComponents) {}

  async start (): Promise<void> {
    const { c } = this
    c.gossip.handle(taskOffer, (msg) => { c.executor.onOffer(msg.envelope.body, msg.sender) }, { admit: (msg) => { admitOffer(msg, c.teamTopic) } })
    c.gossip.handle(taskAssign, (msg) => { const b = msg.envelope.body; c.executor.onAssigned(b.taskId, b.attempt, b.executor) })
    c.gossip.handle(taskDone, (msg) => { c.executor.onDone(msg.envelope.body.taskId) })
    for (const kind of REQUESTS) {
      const wire = ORIGIN_WIRE[kind]
      await rpcServe(c.host, wire.protocol, wire.maxBytes, async (req, from) => {
        return encodeCanonical(JSON.parse(JSON.stringify(await c.endpoint.handle(kind, req, from.toString()))))
      })
    }
  }

  async stop (): Promise<void> {
    for (const p of REQUESTS.map(k => ORIGIN_WIRE[k].protocol)) await this.c.host.unhandle(p).catch(() => {})
  }
}

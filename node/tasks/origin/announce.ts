import { taskAssign, taskDone, taskOffer, type MessageSpec, type TaskDoneBody, type TaskOfferBody, type TaskScope } from '../../../protocol/index.js'
import type { GossipRouter } from '../../gossip/index.js'
import type { Logger } from '../../log.js'
import type { TaskEvent } from '../state.js'
import { isTerminal, tierOf, type TaskRecord } from '../types.js'

/**
 * Tells the mesh what the origin decided, after it is written: the offer of each attempt (and
 * its repeats), the assignment, the end. The node's own executor never hears its own gossip,
 * so it gets the same three through `local`.
 */
export interface LocalExecutor {
  onOffer: (body: TaskOfferBody, origin: string) => void
  onAssigned: (taskId: string, attempt: number, executor: string) => void
  onDone: (taskId: string) => void
}

/**
 * The offer of the task's current attempt. A `team` task's offer names no skill, input size or
 * resources (it goes on the team topic, and outsiders may listen there too): the winner learns
 * them with the input. A `federation` offer names them, for partners' executors to judge.
 */
export function offerBody (t: TaskRecord): TaskOfferBody {
  const common = { taskId: t.id, idSeed: t.idSeed, attempt: t.attempt, deadline: t.deadline, exclude: t.exclude, tier: tierOf(t) }
  if (scopeOf(t) === 'team') return { ...common, scope: 'team' }
  return { ...common, scope: 'federation', skill: t.spec.skill, inputBytes: Buffer.byteLength(JSON.stringify(t.spec.input)), resources: t.spec.resources }
}

export function scopeOf (t: TaskRecord): TaskScope {
  return t.spec.scope ?? 'team'
}

export function announcer (c: { self: string, gossip: Pick<GossipRouter, 'publish'>, log: Logger, local?: LocalExecutor, teamTopic?: string }): (e: TaskEvent) => void {
  const publish = <B>(spec: MessageSpec<B>, body: B, what: string, t: TaskRecord): void => {
    // a team task's gossip stays on the team topic; a node with no team has no peers to tell
    const topic = scopeOf(t) === 'team' ? c.teamTopic : spec.topic
    if (topic == null) return
    // no peers subscribed yet: the tick offers again; assignments and ends are also learned from the origin
    c.gossip.publish(spec, body, { topic }).catch((err: Error) => { c.log.debug({ task: (body as any).taskId, err: err.message }, `${what} not gossiped`) })
  }
  return (e) => {
    const t = e.task
    if (e.to === 'offered' && (e.from !== 'offered' || e.kind === 're-offered')) {
      const body = offerBody(t)
      c.local?.onOffer(body, c.self)
      publish(taskOffer, body, 'offer', t)
    } else if (e.kind === 'assigned' && t.executor != null) {
      c.local?.onAssigned(t.id, t.attempt, t.executor)
      publish(taskAssign, { taskId: t.id, idSeed: t.idSeed, attempt: t.attempt, executor: t.executor, leaseUntil: t.leaseUntil ?? 0 }, 'assignment', t)
    } else if (isTerminal(e.to) && e.from != null && !isTerminal(e.from)) {
      c.local?.onDone(t.id)
      // a team task's end says no more than that it ended: its state is for the submitter and the team to ask
      const body: TaskDoneBody = scopeOf(t) === 'team' ? { taskId: t.id, idSeed: t.idSeed } : { taskId: t.id, idSeed: t.idSeed, state: e.to, executor: e.to === 'succeeded' ? t.executor : null }
      publish(taskDone, body, 'completion', t)
    }
  }
}

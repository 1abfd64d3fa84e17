import { taskAssign, taskDone, taskOffer, type MessageSpec, type TaskOfferBody } from '../../../protocol/index.js'
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

export function offerBody (t: TaskRecord): TaskOfferBody {
  return {
    taskId: t.id,
    attempt: t.attempt,
    skill: t.spec.skill,
    inputBytes: Buffer.byteLength(JSON.stringify(t.spec.input)),
    resources: t.spec.resources,
    deadline: t.deadline,
    exclude: t.exclude,
    tier: tierOf(t)
  }
}

export function announcer (c: { self: string, gossip: Pick<GossipRouter, 'publish'>, log: Logger, local?: LocalExecutor }): (e: TaskEvent) => void {
  const publish = <B>(spec: MessageSpec<B>, body: B, what: string): void => {
    // no peers subscribed yet: the tick offers again; assignments and ends are also learned from the origin
    c.gossip.publish(spec, body).catch((err: Error) => { c.log.debug({ task: (body as any).taskId, err: err.message }, `${what} not gossiped`) })
  }
  return (e) => {
    const t = e.task
    if (e.to === 'offered' && (e.from !== 'offered' || e.kind === 're-offered')) {
      const body = offerBody(t)
      c.local?.onOffer(body, c.self)
      publish(taskOffer, body, 'offer')
    } else if (e.kind === 'assigned' && t.executor != null) {
      c.local?.onAssigned(t.id, t.attempt, t.executor)
      publish(taskAssign, { taskId: t.id, attempt: t.attempt, executor: t.executor, leaseUntil: t.leaseUntil ?? 0 }, 'assignment')
    } else if (isTerminal(e.to) && e.from != null && !isTerminal(e.from)) {
      c.local?.onDone(t.id)
      publish(taskDone, { taskId: t.id, state: e.to, executor: e.to === 'succeeded' ? t.executor : null }, 'completion')
    }
  }
}

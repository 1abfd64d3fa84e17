import {
  GossipActionError, Protocols, ReplayGuard, taskClaim, taskLease, taskResult, taskSubmit, validateDirectMessage,
  taskStatus, TASK_RESULT_MAX_BYTES, type FreshnessOptions, type MessageRegistry, type TaskClaimBody, type TaskLeaseBody,
  type TaskResultBody, type TaskStatusBody, type TaskSubmitBody
} from '../../protocol/index.js'
import type { Member } from '../../federation/index.js'
import type { Authorize } from '../team/authorize.js'
import { membershipReason } from '../team/authorize.js'
import type { Metrics } from '../metrics.js'
import { taskView, type TaskRecord } from './types.js'
import type { Logger } from '../log.js'
import type { TaskOrigin } from './origin/index.js'

/**
 * The origin's side of every hop (DESIGN.md "Task lifecycle"): one signed envelope in, one
 * answer out. Each request is checked — size, schema, clock, signature, replay, and for bids
 * and renewals that the signer is the peer on the other end — before the origin sees it. The
 * stream handlers call this, and so does the node's own executor through its OriginClient:
 * a local task skips the socket, never these checks.
 */
export type OriginRequest = 'submit' | 'claim' | 'lease' | 'result' | 'status'

export const ORIGIN_WIRE: Record<OriginRequest, { protocol: string, type: string, maxBytes: number }> = {
  submit: { protocol: Protocols.taskSubmit, type: taskSubmit.type, maxBytes: taskSubmit.maxBytes },
  claim: { protocol: Protocols.taskClaim, type: taskClaim.type, maxBytes: taskClaim.maxBytes },
  lease: { protocol: Protocols.taskLease, type: taskLease.type, maxBytes: taskLease.maxBytes },
  result: { protocol: Protocols.taskResult, type: taskResult.type, maxBytes: TASK_RESULT_MAX_BYTES },
  status: { protocol: Protocols.taskStatus, type: taskStatus.type, maxBytes: taskStatus.maxBytes }
}

export interface OriginEndpointComponents {
  origin: Pick<TaskOrigin, 'submit' | 'claim' | 'renew' | 'result' | 'get'>
  registry: MessageRegistry
  log: Logger
  now: () => number
  /** Told of each refused request (the audit trail's flood-safe record). */
  onRefused?: (sender: string, reason: string, protocol: string) => void
  /** The membership check (default deny); without it every signer is accepted (unit tests of one part). */
  authorize?: Authorize
  metrics?: Pick<Metrics, 'membershipRefusals'> | null
}

/**
 * May `m` take part in `t`? A `team` task is its origin's team's alone; a `federation` task
 * also a partner's granted `execute`. Status: the submitter and the origin's team.
 */
export function mayExecute (t: Pick<TaskRecord, 'spec'>, m: Member | undefined): boolean {
  if (m == null || m.own) return true
  return t.spec.scope === 'federation' && m.grants.includes('execute')
}

/** Every answer carries the fields each caller reads, so one refusal shape serves all four. */
const refusal = (code: string, message: string): Record<string, unknown> => ({ ok: false, won: false, accepted: false, code, message, reason: message })

export class OriginEndpoint {
  private readonly replay: ReplayGuard

  constructor (private readonly c: OriginEndpointComponents, private readonly freshness: FreshnessOptions) {
    this.replay = new ReplayGuard({ windowMs: freshness.maxAgeMs + freshness.maxFutureMs })
  }

  /** Checks `envelope` as a `kind` request from the peer `connected`, then answers it. */
  async handle (kind: OriginRequest, envelope: Uint8Array, connected: string): Promise<Record<string, unknown>> {
    const wire = ORIGIN_WIRE[kind]
    const deny = (reason: string, message: string): Record<string, unknown> => {
      this.c.metrics?.membershipRefusals.inc({ channel: kind, reason })
      return this.refused(connected, reason, wire.protocol, refusal(`ERR_MEMBERSHIP_${reason.toUpperCase().replace(/-/g, '_')}`, message))
    }
    try {
      const ok = await validateDirectMessage({ registry: this.c.registry, replay: this.replay, freshness: this.freshness, now: this.c.now, authorize: this.c.authorize }, wire.type, envelope)
      const body = ok.envelope.body
      const sender = ok.sender
      const member = ok.member as Member | undefined
      switch (kind) {
        case 'submit': {
          // a partner runs its own origin: submissions are for this team's publishers
          if (member != null && !member.own) return deny('not-granted', 'only members of this node\'s own team submit tasks to it')
          const t = await this.c.origin.submit(body as TaskSubmitBody, sender)
          return { ok: true, id: t.id }
        }
        case 'claim': {
          if (sender !== connected) return this.refused(connected, 'sender-mismatch', wire.protocol, refusal('ERR_SENDER_MISMATCH', 'claim signer is not the connected peer'))
          const t = await this.c.origin.get((body as TaskClaimBody).taskId)
          if (t != null && !mayExecute(t, member)) return deny('not-granted', 'this task runs only on its origin\'s team')
          return { ...await this.c.origin.claim(body as TaskClaimBody, sender) }
        }
        case 'lease': {
          if (sender !== connected) return this.refused(connected, 'sender-mismatch', wire.protocol, refusal('ERR_SENDER_MISMATCH', 'renewal signer is not the connected peer'))
          const b = body as TaskLeaseBody
          return { ...await this.c.origin.renew(b.taskId, b.attempt, sender) }
        }
        case 'result':
          // a result may be relayed: what counts is who signed it
          return { ...await this.c.origin.result(body as TaskResultBody, sender) }
        case 'status': {
          const t = await this.c.origin.get((body as TaskStatusBody).taskId)
          // the same answer whether the task does not exist or is not the asker's to see
          if (t == null || !(sender === t.spec.submitter || member == null || member.own)) {
            if (t != null) deny('not-granted', 'not the submitter nor of the origin\'s team')
            return { ok: false, code: 'ERR_NOT_FOUND', message: `no task ${(body as TaskStatusBody).taskId} on this node` }
          }
          return { ok: true, task: JSON.parse(JSON.stringify(taskView(t))) }
        }
      }
    } catch (err: any) {
      const membership = membershipReason(err)
      if (membership != null) return deny(membership, String(err.message).replace(/^\w+ \([\w-]+\): /, ''))
      if (err instanceof GossipActionError) return this.refused(connected, err.reason, wire.protocol, refusal('ERR_BAD_MESSAGE', err.message))
      if (typeof err?.code === 'string' && err.name !== 'Error') return refusal(err.code, err.message)
      this.c.log.warn({ err, protocol: wire.protocol }, 'task request failed')
      return refusal('ERR_INTERNAL', 'internal error')
    }
  }

  private refused (sender: string, reason: string, protocol: string, answer: Record<string, unknown>): Record<string, unknown> {
    this.c.onRefused?.(sender, reason, protocol)
    return answer
  }
}

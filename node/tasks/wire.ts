import {
  GossipActionError, Protocols, ReplayGuard, taskClaim, taskLease, taskResult, taskSubmit, validateDirectMessage,
  TASK_RESULT_MAX_BYTES, type FreshnessOptions, type MessageRegistry, type TaskClaimBody, type TaskLeaseBody,
  type TaskResultBody, type TaskSubmitBody
} from '../../protocol/index.js'
import type { Logger } from '../log.js'
import type { TaskOrigin } from './origin/index.js'

/**
 * The origin's side of every hop (DESIGN.md "Task lifecycle"): one signed envelope in, one
 * answer out. Each request is checked — size, schema, clock, signature, replay, and for bids
 * and renewals that the signer is the peer on the other end — before the origin sees it. The
 * stream handlers call this, and so does the node's own executor through its OriginClient:
 * a local task skips the socket, never these checks.
 */
export type OriginRequest = 'submit' | 'claim' | 'lease' | 'result'

export const ORIGIN_WIRE: Record<OriginRequest, { protocol: string, type: string, maxBytes: number }> = {
  submit: { protocol: Protocols.taskSubmit, type: taskSubmit.type, maxBytes: taskSubmit.maxBytes },
  claim: { protocol: Protocols.taskClaim, type: taskClaim.type, maxBytes: taskClaim.maxBytes },
  lease: { protocol: Protocols.taskLease, type: taskLease.type, maxBytes: taskLease.maxBytes },
  result: { protocol: Protocols.taskResult, type: taskResult.type, maxBytes: TASK_RESULT_MAX_BYTES }
}

export interface OriginEndpointComponents {
  origin: Pick<TaskOrigin, 'submit' | 'claim' | 'renew' | 'result'>
  registry: MessageRegistry
  log: Logger
  now: () => number
  /** Told of each refused request (the audit trail's flood-safe record). */
  onRefused?: (sender: string, reason: string, protocol: string) => void
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
    try {
      const ok = await validateDirectMessage({ registry: this.c.registry, replay: this.replay, freshness: this.freshness, now: this.c.now }, wire.type, envelope)
      const body = ok.envelope.body
      const sender = ok.sender
      switch (kind) {
        case 'submit': {
          const t = await this.c.origin.submit(body as TaskSubmitBody, sender)
          return { ok: true, id: t.id }
        }
        case 'claim':
          if (sender !== connected) return this.refused(connected, 'sender-mismatch', wire.protocol, refusal('ERR_SENDER_MISMATCH', 'claim signer is not the connected peer'))
          return { ...await this.c.origin.claim(body as TaskClaimBody, sender) }
        case 'lease': {
          if (sender !== connected) return this.refused(connected, 'sender-mismatch', wire.protocol, refusal('ERR_SENDER_MISMATCH', 'renewal signer is not the connected peer'))
          const b = body as TaskLeaseBody
          return { ...await this.c.origin.renew(b.taskId, b.attempt, sender) }
        }
        case 'result':
          // a result may be relayed: what counts is who signed it
          return { ...await this.c.origin.result(body as TaskResultBody, sender) }
      }
    } catch (err: any) {
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

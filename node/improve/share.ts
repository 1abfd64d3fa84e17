import { GossipAction, GossipActionError, learnedAnswer, RejectCode, type LearnedAnswerBody } from '../../protocol/index.js'
import type { Member } from '../../federation/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { LearnedAnswer, LearnedAnswers } from './answers.js'

/**
 * The team learns together (DESIGN.md "Human fallback, memory, self-improvement"): an answer a
 * reviewer allowed to be reused here — and its withdrawal — is gossiped on the team's own
 * topic as a signed `learned-answer`, and the team's other nodes adopt it, so the same input
 * submitted anywhere in the team is answered from memory. Only the own team's members are
 * heard (a partner's node is refused); it carries the input's fingerprint, never the input.
 * Decisions stay per node: each node's SelfImprover decides whether to reuse what it holds.
 */
export interface AnswerSharingComponents {
  answers: Pick<LearnedAnswers, 'adopt'> & { onChange: LearnedAnswers['onChange'] }
  gossip: Pick<GossipRouter, 'handle' | 'publish'>
  teamTopic: string
  metrics: Pick<Metrics, 'improverDecisions'> | null
  log: Logger
}

export class AnswerSharing {
  constructor (private readonly c: AnswerSharingComponents) {}

  start (): void {
    this.c.gossip.handle<LearnedAnswerBody>(learnedAnswer, async (msg) => { await this.receive(msg.envelope.body, msg.sender) }, {
      admit: (msg) => {
        const m = msg.member as Member | undefined
        if (m != null && !m.own) throw new GossipActionError(GossipAction.REJECT, RejectCode.NOT_GRANTED, 'learned answers are shared within a team only')
      }
    })
    this.c.answers.onChange = (a) => { void this.share(a) }
  }

  stop (): void {
    this.c.answers.onChange = undefined
  }

  async share (a: LearnedAnswer): Promise<void> {
    if (a.sharedBy != null) return // a teammate's: it shared it itself
    const { sharedBy: _, ...body } = a
    await this.c.gossip.publish(learnedAnswer, JSON.parse(JSON.stringify(body)) as LearnedAnswerBody, { topic: this.c.teamTopic })
      .catch((err: Error) => { this.c.log.debug({ review: a.review, err: err.message }, 'learned answer not shared') })
  }

  async receive (body: LearnedAnswerBody, from: string): Promise<boolean> {
    const changed = await this.c.answers.adopt(body, from)
    if (changed) this.c.metrics?.improverDecisions.inc({ rule: 'answer-reuse', result: body.withdrawn != null ? 'withdrawn-by-team' : 'shared-by-team' })
    return changed
  }
}

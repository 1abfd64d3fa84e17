/**
 * protocol/: AAS wire formats. The signed envelope and its canonical encoding, message types
 * with their size limits and schemas, topic names, replay protection and the pure gossip
 * validation pipeline. No I/O and no libp2p host here: everything is a pure function or a
 * small in-memory structure, so every other part can build on it.
 */
export * from './errors.js'
export * from './codec.js'
export * from './envelope.js'
export * from './replay.js'
export * from './registry.js'
export * from './validate.js'
export * from './topics.js'
export * from './keys.js'
export * from './release.js'
export * from './audit-entry.js'
export { hello, type HelloBody } from './messages/hello.js'
export * from './messages/task.js'
export { teamRevocation, type TeamRevocationBody } from './messages/team.js'
export { learnedAnswer, type LearnedAnswerBody } from './messages/learned.js'
export { skillRelease, checkSkillRelease, SKILL_RELEASE_MAX_BYTES, type SkillReleaseBody } from './messages/skill-release.js'

import { MessageRegistry, type MessageSpec } from './registry.js'
import { hello } from './messages/hello.js'
import { skillRelease } from './messages/skill-release.js'
import { teamRevocation } from './messages/team.js'
import { learnedAnswer } from './messages/learned.js'
import { taskAssign, taskClaim, taskDone, taskLease, taskOffer, taskResult, taskStatus, taskSubmit } from './messages/task.js'

/** The registry of every message type this version speaks. */
export function defaultRegistry (opts: { teamTopic?: string } = {}): MessageRegistry {
  return new MessageRegistry([hello, skillRelease, taskOffer, taskAssign, taskDone, taskSubmit, taskClaim, taskLease, taskResult, taskStatus, teamRevocation, learnedAnswer] as Array<MessageSpec<unknown>>, opts)
}

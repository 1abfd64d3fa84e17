/** The origin of this node's tasks: submit, auction, leases, results, and what follows their changes. */
export * from './context.js'
export * from './origin.js'
export { type ClaimAnswer, pickBid } from './auction.js'
export type { RenewAnswer } from './leases.js'
export type { ResultAnswer } from './results.js'
export { type SubmitRequest, type SkillResolver, newTask } from './submit.js'
export { announcer, offerBody, type LocalExecutor } from './announce.js'
export { taskMetrics, memoryRecorder, TaskWatchers } from './observers.js'

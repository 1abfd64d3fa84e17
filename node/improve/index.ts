/**
 * node/improve: the SelfImprover and what it learns from — answers reviewers allowed to be
 * reused. Each decision is explained in the task's history.
 */
export * from './answers.js'
export * from './improver.js'
export * from './routing.js'

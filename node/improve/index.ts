/**
 * node/improve: the SelfImprover and what it learns from — answers reviewers allowed to be
 * reused, executors' recent success, releases' failure rates (quarantine) and reviewers' fixes.
 * Each decision is explained in the task's history.
 */
export * from './answers.js'
export * from './improver.js'
export * from './routing.js'
export * from './quarantine.js'
export * from './fixes.js'
export * from './share.js'

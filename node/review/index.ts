/**
 * node/review: the origin's human review queue — list, view, claim with an expiring hold,
 * resolve with a schema-checked answer and an annotation, reject, release — every view and
 * action audited with the person.
 */
export * from './errors.js'
export * from './queue.js'

/**
 * federation/: who this node trusts and for what (DESIGN.md "Federation and security"): the
 * trust policy for skill authors, teams, membership certificates, roles, partner teams and
 * revocations. Pure where it can be: it uses protocol/ only.
 */
export * from './errors.js'
export * from './trust.js'
export * from './certificate.js'
export * from './membership.js'

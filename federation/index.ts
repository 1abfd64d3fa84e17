/**
 * federation/: who this node trusts and for what. Today the trust policy for skill authors;
 * teams, membership certificates, roles and partner teams build here (DESIGN.md "Federation
 * and security"). Pure where it can be: it uses protocol/ only.
 */
export * from './errors.js'
export * from './trust.js'

import { createHash, randomBytes } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { decodeCanonical, domainSeparated, encodeCanonical } from '../protocol/codec.js'
import { isPublicKeyText, parsePublicKeyText, publicKeyText } from '../protocol/keys.js'
import { MembershipCode, MembershipError, TeamError, TeamErrorCode } from './errors.js'

/**
 * Teams (DESIGN.md "Federation and security"): a team is its root key. The root signs
 * membership certificates — {team, subject key, roles, notBefore, expires, serial} — and
 * revocations. Everything here is pure: bytes in, checked values out; the node decides what
 * to do with them. Certificates are DAG-CBOR signed over a domain-separated encoding, so a
 * certificate's signature can never pass as any other signed AAS object.
 */
export const ROLES = ['node', 'executor', 'publisher', 'author', 'admin'] as const
export type Role = typeof ROLES[number]

export const CERT_DOMAIN = 'aas/membership-certificate/v1'
export const REVOCATION_DOMAIN = 'aas/revocation/v1'
export const CERT_VERSION = 1
/** A certificate is small; anything bigger is not one. */
export const CERT_MAX_BYTES = 1024

/** The public face of a team (`team.json`): its name and root key. */
export interface TeamDescriptor {
  name: string
  /** The root public key, z6Mk… */
  rootKey: string
}

export interface Certificate {
  v: number
  /** Team name (informational; the root key is what identifies the team). */
  team: string
  /** Raw 32-byte root key that signed it. */
  root: Uint8Array
  /** Raw 32-byte key of the member. */
  subject: Uint8Array
  roles: Role[]
  notBefore: number
  expires: number
  /** Random, hex: names this certificate in revocations and the audit trail. */
  serial: string
  sig: Uint8Array
}

export interface Revocation {
  v: number
  /** Raw root key of the team whose member is revoked. */
  root: Uint8Array
  /** Raw key revoked. */
  subject: Uint8Array
  revokedAt: number
  /** Raw key of the signer: the root, or an admin presenting `issuerCert`. */
  issuer: Uint8Array
  issuerCert?: Uint8Array
  sig: Uint8Array
}

const TEAM_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/

export function checkTeamName (name: string): string {
  if (!TEAM_NAME.test(name)) throw new TeamError(`team name "${name}" must be 1–63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`, TeamErrorCode.BAD_FILE)
  return name
}

/** Parses a `team.json` value; throws TeamError naming what is wrong. */
export function parseTeamDescriptor (value: unknown, where = 'team descriptor'): TeamDescriptor {
  const v = value as Record<string, unknown> | null
  if (v == null || typeof v !== 'object' || Array.isArray(v)) throw new TeamError(`${where} must be a JSON object {name, rootKey}`, TeamErrorCode.BAD_FILE)
  if (typeof v.name !== 'string') throw new TeamError(`${where}: "name" must be a string`, TeamErrorCode.BAD_FILE)
  checkTeamName(v.name)
  if (typeof v.rootKey !== 'string' || !isPublicKeyText(v.rootKey)) throw new TeamError(`${where}: "rootKey" must be a public key (z6Mk…)`, TeamErrorCode.BAD_FILE)
  return { name: v.name, rootKey: v.rootKey }
}

/** A short stable tag of a team (its topic names, metric-free logs): hex of the root key's hash. */
export function teamTag (rootKey: string | Uint8Array): string {
  const raw = typeof rootKey === 'string' ? parsePublicKeyText(rootKey) : rootKey
  return createHash('sha256').update('aas/team-tag\n').update(raw).digest('hex').slice(0, 16)
}

/** A subject as given on the command line: a peer id (12D3Koo…) or a public key (z6Mk…); raw key out. */
export function parseSubject (text: string): Uint8Array {
  if (isPublicKeyText(text)) return parsePublicKeyText(text)
  try {
    const id = peerIdFromString(text)
    if (id.type === 'Ed25519' && id.publicKey != null) return id.publicKey.raw
  } catch { /* not a peer id either */ }
  throw new TeamError(`"${text}" is neither a peer id (12D3Koo…, as "aas node id" prints) nor a public key (z6Mk…, as "aas keys show" prints)`, TeamErrorCode.BAD_SUBJECT)
}

/** The peer id of a raw ed25519 key. */
export function peerIdOfKey (raw: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(raw)).toString()
}

export function parseRoles (text: string | string[]): Role[] {
  const list = (Array.isArray(text) ? text : text.split(',')).map(r => r.trim()).filter(r => r !== '')
  if (list.length === 0) throw new TeamError(`give at least one role: ${ROLES.join(', ')}`, TeamErrorCode.BAD_ROLE)
  for (const r of list) if (!(ROLES as readonly string[]).includes(r)) throw new TeamError(`"${r}" is not a role; roles are ${ROLES.join(', ')}`, TeamErrorCode.BAD_ROLE)
  return [...new Set(list)].sort() as Role[]
}

function unsignedCert (c: Omit<Certificate, 'sig'>): Omit<Certificate, 'sig'> {
  return { v: c.v, team: c.team, root: c.root, subject: c.subject, roles: c.roles, notBefore: c.notBefore, expires: c.expires, serial: c.serial }
}

export interface IssueOptions {
  team: string
  subject: Uint8Array
  roles: Role[]
  notBefore: number
  expires: number
  serial?: string
}

/** Signs a membership certificate with the team's root key; returns its canonical bytes. */
export async function issueCertificate (root: PrivateKey, o: IssueOptions): Promise<Uint8Array> {
  if (root.type !== 'Ed25519') throw new TeamError('a team root key is an ed25519 key', TeamErrorCode.WRONG_KEY)
  if (!(o.expires > o.notBefore)) throw new TeamError('a certificate must expire after it starts', TeamErrorCode.BAD_FILE)
  const unsigned = unsignedCert({ v: CERT_VERSION, team: checkTeamName(o.team), root: root.publicKey.raw, subject: o.subject, roles: parseRoles(o.roles), notBefore: o.notBefore, expires: o.expires, serial: o.serial ?? randomBytes(8).toString('hex') })
  const sig = await root.sign(domainSeparated(CERT_DOMAIN, unsigned))
  return encodeCanonical({ ...unsigned, sig })
}

function bad (detail: string): never {
  throw new MembershipError(`bad certificate: ${detail}`, MembershipCode.BAD_CERTIFICATE)
}

async function verifySig (key: Uint8Array, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  try {
    return await publicKeyFromRaw(key).verify(data, sig)
  } catch {
    return false
  }
}

const isBytes = (v: unknown, n: number): v is Uint8Array => v instanceof Uint8Array && v.length === n

/** Decodes a certificate and checks its shape and root signature (not its time, team or subject). */
export async function decodeCertificate (bytes: Uint8Array): Promise<Certificate> {
  if (!(bytes instanceof Uint8Array) || bytes.length > CERT_MAX_BYTES) bad('not a certificate (too large)')
  let c: Record<string, unknown>
  try {
    c = decodeCanonical(bytes) as Record<string, unknown>
  } catch {
    bad('not canonical DAG-CBOR')
  }
  if (c == null || typeof c !== 'object' || Array.isArray(c)) bad('not a map')
  const keys = Object.keys(c).sort().join(',')
  if (keys !== 'expires,notBefore,roles,root,serial,sig,subject,team,v') bad(`unexpected fields ${keys}`)
  if (c.v !== CERT_VERSION) bad(`version ${String(c.v)}`)
  if (typeof c.team !== 'string' || !TEAM_NAME.test(c.team)) bad('team name')
  if (!isBytes(c.root, 32) || !isBytes(c.subject, 32) || !isBytes(c.sig, 64)) bad('key or signature length')
  if (!Array.isArray(c.roles) || c.roles.length === 0 || c.roles.length > ROLES.length || c.roles.some(r => !(ROLES as readonly unknown[]).includes(r))) bad('roles')
  if (!Number.isSafeInteger(c.notBefore) || !Number.isSafeInteger(c.expires)) bad('validity times')
  if (typeof c.serial !== 'string' || !/^[0-9a-f]{8,64}$/.test(c.serial)) bad('serial')
  const cert = c as unknown as Certificate
  const ok = await verifySig(cert.root, domainSeparated(CERT_DOMAIN, unsignedCert(cert)), cert.sig)
  if (!ok) bad('the root signature does not verify')
  return cert
}

/** Throws MembershipError EXPIRED when `now` is outside the certificate's window. */
export function checkValidity (cert: Pick<Certificate, 'notBefore' | 'expires' | 'serial'>, now: number): void {
  if (now < cert.notBefore) throw new MembershipError(`certificate ${cert.serial} is not valid before ${new Date(cert.notBefore).toISOString()}`, MembershipCode.EXPIRED)
  if (now >= cert.expires) throw new MembershipError(`certificate ${cert.serial} expired at ${new Date(cert.expires).toISOString()}`, MembershipCode.EXPIRED)
}

function unsignedRevocation (r: Omit<Revocation, 'sig'>): Omit<Revocation, 'sig'> {
  return { v: r.v, root: r.root, subject: r.subject, revokedAt: r.revokedAt, issuer: r.issuer, ...(r.issuerCert != null ? { issuerCert: r.issuerCert } : {}) }
}

/** A revocation of `subject` in the team of `root`, signed by the root (or by an admin with its certificate). */
export async function issueRevocation (signer: PrivateKey, o: { root: Uint8Array, subject: Uint8Array, revokedAt: number, issuerCert?: Uint8Array }): Promise<Revocation> {
  const unsigned = unsignedRevocation({ v: 1, root: o.root, subject: o.subject, revokedAt: o.revokedAt, issuer: signer.publicKey.raw, ...(o.issuerCert != null ? { issuerCert: o.issuerCert } : {}) })
  const sig = await signer.sign(domainSeparated(REVOCATION_DOMAIN, unsigned))
  return { ...unsigned, sig }
}

/**
 * Checks a revocation: shape, signature, and that its issuer is the team's root or an admin
 * of that team (by a valid admin certificate). Returns the subject's key text.
 */
export async function verifyRevocation (r: Revocation, now: number): Promise<string> {
  const fail = (detail: string): never => { throw new MembershipError(`bad revocation: ${detail}`, MembershipCode.BAD_CERTIFICATE) }
  if (!isBytes(r.root, 32) || !isBytes(r.subject, 32) || !isBytes(r.issuer, 32) || !isBytes(r.sig, 64) || !Number.isSafeInteger(r.revokedAt) || r.v !== 1) fail('shape')
  const ok = await verifySig(r.issuer, domainSeparated(REVOCATION_DOMAIN, unsignedRevocation(r)), r.sig)
  if (!ok) fail('the signature does not verify')
  if (Buffer.compare(r.issuer, r.root) !== 0) {
    if (r.issuerCert == null) fail('signed by neither the team root nor an admin with its certificate')
    const cert = await decodeCertificate(r.issuerCert!)
    if (Buffer.compare(cert.root, r.root) !== 0 || Buffer.compare(cert.subject, r.issuer) !== 0 || !cert.roles.includes('admin')) fail('the issuer is not an admin of the team')
    checkValidity(cert, now)
    if (Buffer.compare(r.subject, r.root) === 0) fail('an admin cannot revoke the team root')
  }
  return publicKeyText(r.subject)
}

/** Parses a duration such as `30d`, `12h`, `90m`, `3600s` (or plain seconds) into ms. */
export function parseDuration (text: string): number {
  const m = /^(\d+)\s*([smhdw]?)$/.exec(text.trim())
  if (m == null) throw new TeamError(`"${text}" is not a duration (e.g. 30d, 12h, 90m)`, TeamErrorCode.BAD_FILE)
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'w']
  const ms = Number(m[1]) * unit * 1000
  if (ms <= 0 || ms > 10 * 365 * 86_400_000) throw new TeamError(`duration "${text}" must be more than 0 and at most 10 years`, TeamErrorCode.BAD_FILE)
  return ms
}

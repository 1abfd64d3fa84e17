import { createHash } from 'node:crypto'
import { parsePublicKeyText, publicKeyText } from '../protocol/keys.js'
import { checkValidity, decodeCertificate, peerIdOfKey, teamTag, type Certificate, type Role, type TeamDescriptor } from './certificate.js'
import { MembershipCode, MembershipError, TeamError, TeamErrorCode } from './errors.js'

/**
 * Who a signer is, for this node (DESIGN.md "Federation and security"): a member of its own
 * team, a member of a partner team, or nobody. Default deny: a key with no certificate, a
 * certificate of a team this node does not know, out of its validity window, for another key
 * or revoked is refused; a member is refused an action its roles (and, for a partner, its
 * team's grants) do not cover. Verified certificates are cached by their hash, so a member's
 * certificate costs one signature check however many messages carry it.
 */
export const GRANTS = ['execute', 'publish', 'trust-authors'] as const
export type Grant = typeof GRANTS[number]

export interface Partner {
  team: TeamDescriptor
  grants: Grant[]
}

export interface Member {
  /** Public key text (z6Mk…) and peer id of the signer. */
  key: string
  peerId: string
  team: TeamDescriptor
  /** Of this node's own team (false: a partner's). */
  own: boolean
  roles: Role[]
  /** What the member's team may do here (every grant for the own team). */
  grants: Grant[]
  serial: string
  expires: number
}

export interface MembershipInit {
  /** This node's own key (raw). */
  self: Uint8Array
  /** This node's team; none: a team of one that accepts nothing from peers. */
  team?: TeamDescriptor
  partners?: Partner[]
  now?: () => number
  /** Verified certificates kept (by hash). */
  cacheSize?: number
}

export function parseGrants (text: string | string[]): Grant[] {
  const list = (Array.isArray(text) ? text : text.split(',')).map(g => g.trim()).filter(g => g !== '')
  for (const g of list) if (!(GRANTS as readonly string[]).includes(g)) throw new TeamError(`"${g}" is not a grant; grants are ${GRANTS.join(', ')}`, TeamErrorCode.BAD_ROLE)
  return [...new Set(list)].sort() as Grant[]
}

export class Membership {
  readonly team: TeamDescriptor | undefined
  private readonly selfKey: string
  private readonly selfPeer: string
  private readonly teams = new Map<string, { team: TeamDescriptor, own: boolean, grants: Grant[] }>()
  /** Key text → when it was revoked. */
  private readonly revoked = new Map<string, number>()
  private readonly revokedPeers = new Set<string>()
  private readonly cache = new Map<string, Certificate>()
  private readonly cacheSize: number
  private readonly now: () => number

  constructor (init: MembershipInit) {
    this.team = init.team
    this.selfKey = publicKeyText(init.self)
    this.selfPeer = peerIdOfKey(init.self)
    this.now = init.now ?? Date.now
    this.cacheSize = init.cacheSize ?? 4096
    if (init.team != null) this.teams.set(init.team.rootKey, { team: init.team, own: true, grants: [...['execute', 'publish', 'trust-authors'] as Grant[]] })
    for (const p of init.partners ?? []) {
      if (p.team.rootKey === init.team?.rootKey) throw new TeamError(`partner "${p.team.name}" is this node's own team`, TeamErrorCode.BAD_FILE)
      this.teams.set(p.team.rootKey, { team: p.team, own: false, grants: p.grants })
    }
  }

  /** The team's topic tag (none without a team). */
  get tag (): string | undefined {
    return this.team != null ? teamTag(this.team.rootKey) : undefined
  }

  partners (): Partner[] {
    return [...this.teams.values()].filter(t => !t.own).map(t => ({ team: t.team, grants: t.grants }))
  }

  /** The partner (or own) team of a root key. */
  teamOf (rootKey: string): { team: TeamDescriptor, own: boolean, grants: Grant[] } | undefined {
    return this.teams.get(rootKey)
  }

  /**
   * Who signed: checks `cert` (when the signer is not this node) and returns the member.
   * Throws MembershipError with the reason.
   */
  async identify (signer: Uint8Array, cert: Uint8Array | undefined): Promise<Member> {
    const key = publicKeyText(signer)
    if (this.revoked.has(key)) throw new MembershipError(`key ${key} was revoked`, MembershipCode.REVOKED)
    if (key === this.selfKey && (this.team == null || cert == null)) {
      // this node itself (a team of one runs its own tasks)
      return { key, peerId: this.selfPeer, team: this.team ?? { name: 'self', rootKey: key }, own: true, roles: ['admin', 'author', 'executor', 'node', 'publisher'], grants: ['execute', 'publish', 'trust-authors'], serial: 'self', expires: Number.MAX_SAFE_INTEGER }
    }
    if (this.team == null) throw new MembershipError('this node has no team: it accepts nothing from peers (start it with --team and --cert)', MembershipCode.NO_TEAM)
    if (cert == null) throw new MembershipError(`${peerIdOfKey(signer)} presented no membership certificate`, MembershipCode.NO_CERTIFICATE)
    const c = await this.verified(cert)
    const root = publicKeyText(c.root)
    const known = this.teams.get(root)
    if (known == null) throw new MembershipError(`certificate ${c.serial} is of team "${c.team}" (${root}), which this node neither belongs to nor lists as a partner`, MembershipCode.UNKNOWN_TEAM)
    if (this.revoked.has(root)) throw new MembershipError(`team root ${root} was revoked`, MembershipCode.REVOKED)
    if (Buffer.compare(c.subject, signer) !== 0) throw new MembershipError(`certificate ${c.serial} names another key than the signer's`, MembershipCode.SUBJECT_MISMATCH)
    checkValidity(c, this.now())
    return { key, peerId: peerIdOfKey(signer), team: known.team, own: known.own, roles: c.roles, grants: known.grants, serial: c.serial, expires: c.expires }
  }

  /** `identify`, then the role (and, for a partner, the grant) the action needs. */
  async require (signer: Uint8Array, cert: Uint8Array | undefined, role: Role, grant?: Grant): Promise<Member> {
    const m = await this.identify(signer, cert)
    if (!m.roles.includes(role)) throw new MembershipError(`${m.peerId} (team "${m.team.name}", roles ${m.roles.join(',')}) lacks the "${role}" role`, MembershipCode.ROLE)
    if (grant != null && !m.own && !m.grants.includes(grant)) throw new MembershipError(`partner team "${m.team.name}" is not granted "${grant}"`, MembershipCode.NOT_GRANTED)
    return m
  }

  /** Marks a key revoked from now on (the node persists revocations and calls this at load). */
  revoke (key: string | Uint8Array, at: number): boolean {
    const text = typeof key === 'string' ? key : publicKeyText(key)
    if (this.revoked.has(text)) return false
    this.revoked.set(text, at)
    this.revokedPeers.add(peerIdOfKey(parsePublicKeyText(text)))
    return true
  }

  isRevoked (key: string | Uint8Array): boolean {
    return this.revoked.has(typeof key === 'string' ? key : publicKeyText(key))
  }

  isRevokedPeer (peerId: string): boolean {
    return this.revokedPeers.has(peerId)
  }

  revocations (): Array<{ key: string, at: number }> {
    return [...this.revoked].map(([key, at]) => ({ key, at }))
  }

  private async verified (cert: Uint8Array): Promise<Certificate> {
    const id = createHash('sha256').update(cert).digest('base64')
    const hit = this.cache.get(id)
    if (hit != null) return hit
    const c = await decodeCertificate(cert)
    this.cache.set(id, c)
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!)
    return c
  }
}

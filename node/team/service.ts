import { peerIdFromString } from '@libp2p/peer-id'
import {
  decodeCanonical, encodeCanonical, GossipAction, GossipActionError, parsePublicKeyText, RejectCode, teamRevocation, publicKeyText,
  type TeamRevocationBody
} from '../../protocol/index.js'
import { MembershipCode, MembershipError, peerIdOfKey, verifyRevocation, type Membership, type Revocation } from '../../federation/index.js'
import { Bucket, type NodeStore } from '../store/index.js'
import type { AuditLog } from '../audit/index.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Host } from '../p2p/host.js'
import type { Metrics } from '../metrics.js'
import type { Logger } from '../log.js'
import { TeamError, TeamErrorCode } from '../../federation/index.js'

/**
 * Revocations (DESIGN.md "Federation and security"): a team's root (or an admin) revokes a
 * key; any node of the team gossips the signed revocation, and every node that hears it keeps
 * it (LevelDB, with its audit entry in the same batch), refuses the key everywhere from then
 * on, drops its connections and stops the work it was doing for it. Known revocations are
 * gossiped again every interval, so a node that was away when one was issued learns it.
 */
export interface TeamServiceComponents {
  membership: Membership
  store: Pick<NodeStore, 'sublevel'>
  audit: Pick<AuditLog, 'write'>
  gossip: Pick<GossipRouter, 'handle' | 'publish'>
  host: Pick<Host, 'hangUp'>
  metrics: Pick<Metrics, 'revocations'> | null
  log: Logger
  now: () => number
  /** A key was revoked: stop running its tasks, re-offer what it ran for us. */
  onRevoked?: (peerId: string) => void | Promise<void>
}

export interface TeamServiceInit {
  /** Gossip the known revocations again this often (0: never). */
  regossipMs: number
}

/** At most this many revocations are gossiped again per interval (the newest). */
const REGOSSIP_MAX = 256

export class TeamService {
  private timer: NodeJS.Timeout | undefined
  /** Key text → the revocation as gossiped (base64url). */
  private readonly known = new Map<string, { at: number, b64: string }>()

  constructor (private readonly c: TeamServiceComponents, private readonly init: TeamServiceInit) {}

  private get db () { return this.c.store.sublevel(Bucket.team) }

  /** Loads the revocations kept from earlier runs into the membership. */
  async load (): Promise<number> {
    let n = 0
    for await (const [key, value] of this.db.iterator({ gte: 'r!', lt: 'r!\xff' })) {
      const r = decodeCanonical(value) as Revocation
      this.c.membership.revoke(key.slice(2), r.revokedAt)
      this.known.set(key.slice(2), { at: r.revokedAt, b64: Buffer.from(value).toString('base64url') })
      n++
    }
    return n
  }

  start (): void {
    this.c.gossip.handle<TeamRevocationBody>(teamRevocation, async (msg) => {
      await this.apply(msg.envelope.body.revocation, msg.sender, false).catch((err) => { this.c.log.debug({ err: err.message }, 'revocation not applied') })
    }, {
      admit: async (msg) => {
        try {
          await this.check(msg.envelope.body.revocation)
        } catch (err) {
          if (err instanceof TeamError) throw new GossipActionError(GossipAction.IGNORE, RejectCode.UNKNOWN_TEAM, err.message)
          throw new GossipActionError(GossipAction.REJECT, RejectCode.BAD_CERTIFICATE, (err as Error).message)
        }
      }
    })
    if (this.init.regossipMs > 0) {
      this.timer = setInterval(() => { void this.regossip() }, this.init.regossipMs)
      this.timer.unref()
    }
  }

  stop (): void {
    clearInterval(this.timer)
  }

  revocations (): Array<{ key: string, peerId: string, revokedAt: string }> {
    return [...this.known].map(([key, r]) => ({ key, peerId: peerIdOfKey(parsePublicKeyText(key)), revokedAt: new Date(r.at).toISOString() }))
  }

  /** Decodes and verifies a revocation of this node's team or a partner's. */
  private async check (b64: string): Promise<Revocation> {
    let r: Revocation
    try {
      r = decodeCanonical(new Uint8Array(Buffer.from(b64, 'base64url'))) as Revocation
    } catch {
      throw new MembershipError('bad revocation: not canonical DAG-CBOR', MembershipCode.BAD_CERTIFICATE)
    }
    await verifyRevocation(r, this.c.now())
    const root = publicKeyText(r.root)
    if (this.c.membership.teamOf(root) == null) throw new TeamError(`a revocation of team ${root}, which this node neither belongs to nor lists as a partner`, TeamErrorCode.WRONG_KEY)
    return r
  }

  /**
   * Applies a revocation (from gossip, or from the API when `publish`): kept with its audit
   * entry in one synced batch, then the key is refused, its connections dropped, its work
   * stopped. Returns the revoked key and whether it was new here.
   */
  async apply (b64: string, from: string, publish: boolean): Promise<{ revoked: string, new: boolean }> {
    const r = await this.check(b64)
    const key = publicKeyText(r.subject)
    const fresh = !this.c.membership.isRevoked(key)
    if (fresh) {
      const bytes = encodeCanonical(r)
      await this.c.audit.write([{ action: 'team.revoked', subject: key, actor: from, details: { peerId: peerIdOfKey(r.subject), team: publicKeyText(r.root), issuer: publicKeyText(r.issuer), revokedAt: r.revokedAt } }],
        [{ type: 'put', bucket: Bucket.team, key: `r!${key}`, value: bytes }], { sync: true })
      this.c.membership.revoke(key, r.revokedAt)
      this.known.set(key, { at: r.revokedAt, b64: Buffer.from(bytes).toString('base64url') })
      this.c.metrics?.revocations.inc()
      const peer = peerIdOfKey(r.subject)
      this.c.log.warn({ peer, key }, 'team key revoked: refusing it from now on')
      await this.c.host.hangUp(peerIdFromString(peer)).catch(() => {})
      await this.c.onRevoked?.(peer)
    }
    if (publish) await this.c.gossip.publish(teamRevocation, { revocation: b64 }).catch((err: Error) => { this.c.log.debug({ err: err.message }, 'revocation not gossiped') })
    return { revoked: key, new: fresh }
  }

  private async regossip (): Promise<void> {
    const newest = [...this.known.values()].sort((a, b) => b.at - a.at).slice(0, REGOSSIP_MAX)
    for (const r of newest) await this.c.gossip.publish(teamRevocation, { revocation: r.b64 }).catch(() => {})
  }
}


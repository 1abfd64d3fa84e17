import { isPublicKeyText } from '../protocol/keys.js'
import { TrustError, TrustErrorCode } from './errors.js'

/**
 * The node's trust policy for skill authors: which author keys' releases it indexes, fetches
 * and runs. One module, so team certificates (a later issue) replace how the set is made, not
 * every place that asks.
 */
export class TrustPolicy {
  private readonly authors: Set<string>
  /** Authors trusted by certificate: their team, and whether it is this node's own. */
  private readonly certified = new Map<string, { team: string, own: boolean }>()

  /** `revoked`: keys revoked by their team are never trusted, whatever the list says. */
  constructor (authors: Iterable<string>, private readonly revoked: (key: string) => boolean = () => false) {
    for (const a of authors) if (!isPublicKeyText(a)) throw new TrustError(`trust: "${a}" is not an author public key (z6Mk…)`, TrustErrorCode.BAD_KEY)
    this.authors = new Set(authors)
  }

  /**
   * An author whose certificate (role `author`) the node checked: of its own team, or of a
   * partner granted `trust-authors`. Trusted from now on, until revoked.
   */
  certify (author: string, team: { name: string, own: boolean }): void {
    this.certified.set(author, { team: team.name, own: team.own })
  }

  trustsAuthor (author: string): boolean {
    if (this.revoked(author)) return false
    return this.authors.has(author) || this.certified.has(author)
  }

  /**
   * How close an author is, for resolving a skill name: 0 this node's own (listed in
   * trust.authors or certified by its team), 1 a partner's; undefined: not trusted. A name
   * resolves among the closest authors that have it, so a partner never shadows the team.
   */
  rank (author: string): number | undefined {
    if (!this.trustsAuthor(author)) return undefined
    if (this.authors.has(author)) return 0
    return this.certified.get(author)?.own === true ? 0 : 1
  }

  /** The team an author was certified by (its name), if any. */
  teamOf (author: string): string | undefined {
    return this.certified.get(author)?.team
  }

  trustedAuthors (): string[] {
    return [...new Set([...this.authors, ...this.certified.keys()])].filter(a => !this.revoked(a)).sort()
  }
}

import { isPublicKeyText } from '../protocol/keys.js'
import { TrustError, TrustErrorCode } from './errors.js'

/**
 * The node's trust policy for skill authors: which author keys' releases it indexes, fetches
 * and runs. One module, so team certificates (a later issue) replace how the set is made, not
 * every place that asks.
 */
export class TrustPolicy {
  private readonly authors: Set<string>

  constructor (authors: Iterable<string>) {
    for (const a of authors) if (!isPublicKeyText(a)) throw new TrustError(`trust: "${a}" is not an author public key (z6Mk…)`, TrustErrorCode.BAD_KEY)
    this.authors = new Set(authors)
  }

  trustsAuthor (author: string): boolean {
    return this.authors.has(author)
  }

  trustedAuthors (): string[] {
    return [...this.authors].sort()
  }
}

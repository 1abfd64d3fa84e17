import { Topics } from '../topics.js'
import type { MessageSpec } from '../registry.js'
import { GossipAction, GossipActionError, RejectCode } from '../errors.js'
import { manifestDigest, releaseSchema, verifyRelease, type Release } from '../release.js'

/**
 * `skill-release`: a node announces a release it holds the bundle of. The body carries the
 * author-signed release and the manifest it covers (for search: description, category,
 * tags). Checked here, purely: the author's signature, and that the manifest is the signed
 * one (digest, name and version). Trust and rollback depend on the node and are checked by
 * the node's gate after this.
 */
export interface SkillReleaseBody {
  release: Release
  manifest: Record<string, unknown>
  /**
   * The author's membership certificate (base64url of its bytes; role `author`), outside the
   * signed release: a node trusts an author its team (or a partner granted `trust-authors`)
   * certified, besides the keys it lists in trust.authors.
   */
  authorCert?: string
}

export const SKILL_RELEASE_MAX_BYTES = 256 * 1024

export async function checkSkillRelease (body: SkillReleaseBody): Promise<void> {
  const bad = (detail: string): never => { throw new GossipActionError(GossipAction.REJECT, RejectCode.RELEASE_SIGNATURE, detail) }
  if (!await verifyRelease(body.release)) bad('the author signature of the release does not verify')
  if (manifestDigest(body.manifest) !== body.release.manifestDigest) bad('the manifest is not the one the author signed')
  if (body.manifest.name !== body.release.name || body.manifest.version !== body.release.version) bad('the manifest names another skill or version than the release')
}

export const skillRelease: MessageSpec<SkillReleaseBody> = {
  type: 'skill-release',
  topic: Topics.skills,
  maxBytes: SKILL_RELEASE_MAX_BYTES,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['release', 'manifest'],
    properties: {
      release: releaseSchema,
      manifest: { type: 'object', required: ['name', 'version'], properties: { name: { type: 'string' }, version: { type: 'string' } } },
      authorCert: { type: 'string', minLength: 16, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$' }
    }
  },
  check: checkSkillRelease,
  role: 'node'
}

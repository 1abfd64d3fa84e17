import { AasError } from '../../protocol/errors.js'

export type ManifestErrorCode =
  | 'ERR_MANIFEST_MISSING' | 'ERR_MANIFEST_JSON' | 'ERR_MANIFEST_SCHEMA'
  | 'ERR_ENTRYPOINT' | 'ERR_SYMLINK' | 'ERR_SKILL_DIR'

/** A skill folder or its skill.json is not acceptable; `field` names the culprit when there is one. */
export class ManifestError extends AasError {
  readonly field: string | undefined
  constructor (message: string, code: ManifestErrorCode, field?: string) {
    super(message, code)
    this.name = 'ManifestError'
    this.field = field
  }
}

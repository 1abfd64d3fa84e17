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

export enum SkillSchemaErrorCode {
  /** Not a JSON Schema ajv can compile. */
  INVALID = 'ERR_SCHEMA_INVALID',
  /** A `pattern` (or `patternProperties` key) the linear-time engine cannot run. */
  PATTERN = 'ERR_SCHEMA_PATTERN',
  /** A keyword whose check would cost more than linear time in the input, unbounded. */
  COST = 'ERR_SCHEMA_COST'
}

/** A skill's own input/output JSON Schema that this node will not compile. */
export class SkillSchemaError extends AasError {
  constructor (message: string, code: SkillSchemaErrorCode) {
    super(message, code)
    this.name = 'SkillSchemaError'
  }
}

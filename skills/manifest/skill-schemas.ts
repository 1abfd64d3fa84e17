import { Ajv, type ValidateFunction } from 'ajv'

/**
 * Skills' own input/output JSON Schemas: compiled once per distinct schema text and reused.
 * Ajv caches every compiled schema by object identity, and a manifest is read afresh for
 * each run, so compiling `manifest.inputSchema` directly would compile it every time and keep
 * every copy for the life of the node. Here the cache is keyed by the schema's JSON and
 * bounded: past the bound, the compiler and the cache start over.
 */
const MAX_SCHEMAS = 512
let ajv = new Ajv({ allErrors: false, strict: false })
const compiled = new Map<string, ValidateFunction>()

/** Compiles (or reuses) a skill's schema; throws when it is not a valid JSON Schema. */
export function compileSkillSchema (schema: object): ValidateFunction {
  const key = JSON.stringify(schema)
  const hit = compiled.get(key)
  if (hit != null) return hit
  if (compiled.size >= MAX_SCHEMAS) {
    compiled.clear()
    ajv = new Ajv({ allErrors: false, strict: false })
  }
  const fn = ajv.compile(schema)
  compiled.set(key, fn)
  return fn
}

/** Why `value` does not match `schema` (`field "a.b" must be …`), or undefined when it does. */
export function schemaProblem (schema: object | undefined, value: unknown): string | undefined {
  if (schema == null) return undefined
  const validate = compileSkillSchema(schema)
  if (validate(value)) return undefined
  const e = validate.errors?.[0]
  const path = (e?.instancePath ?? '').slice(1).replaceAll('/', '.')
  return `${path === '' ? '' : `field "${path}" `}${e?.message ?? 'does not match the schema'}`
}

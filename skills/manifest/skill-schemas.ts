import { createRequire } from 'node:module'
import type { Ajv, ValidateFunction } from 'ajv'
import type { RE2JS } from 're2js'
import { SkillSchemaError, SkillSchemaErrorCode } from './errors.js'

/**
 * Skills' own input/output JSON Schemas: compiled once per distinct schema text and reused.
 * Ajv caches every compiled schema by object identity, and a manifest is read afresh for
 * each run, so compiling `manifest.inputSchema` directly would compile it every time and keep
 * every copy for the life of the node. Here the cache is keyed by the schema's JSON and
 * bounded: past the bound, the compiler and the cache start over.
 *
 * A schema comes from a skill's author, and through the index from any peer, so checking a
 * value against it must not be able to stall the node (issue 9, "Abuse limits"):
 * - every `pattern` and `patternProperties` key is matched by RE2 (re2js, ajv's `code.regExp`),
 *   whose time is linear in the input whatever the pattern: `^(a+)+$` against "aaaa…b" is one
 *   pass, where JavaScript's backtracking engine would take exponential time. A pattern RE2
 *   cannot run (backreferences, lookaround, a repeat count over 1000) makes the schema invalid;
 * - `uniqueItems` on items that may be objects or arrays compares every pair (ajv's loop is
 *   quadratic), so it needs `maxItems` ≤ MAX_UNIQUE_ITEMS; on items of scalar types ajv hashes
 *   them, which is linear.
 * Compiling is where every path meets (skill lint, publish, index of a peer's release, a task
 * submission, a sandbox run, a review answer), so no path can skip these checks.
 */
const MAX_SCHEMAS = 512
/** The most items `uniqueItems` may compare pairwise (10⁴ pairs of at most the input's size). */
export const MAX_UNIQUE_ITEMS = 100

/** ajv's RegExp engine: RE2. `toString` is ajv's cache key for a pattern, so it names the pattern. */
function re2Engine (pattern: string, flags: string): { test: (s: string) => boolean, toString: () => string } {
  let re: RE2JS
  const { RE2JS: Re2 } = require('re2js') as typeof import('re2js')
  try {
    // JSON Schema patterns are ECMA-262: \uXXXX, \cX and named groups are translated to RE2's syntax
    re = Re2.compile(Re2.translateRegExp(pattern))
  } catch (err: any) {
    throw new SkillSchemaError(`pattern ${JSON.stringify(pattern)} cannot be matched in linear time (${String(err?.message ?? err)}): ` +
      'use no backreferences or lookaround, and repeat counts of at most 1000', SkillSchemaErrorCode.PATTERN)
  }
  return { test: (s) => re.test(s), toString: () => `re2:/${pattern}/${flags}` }
}
// ajv names the engine by `code` only when it writes standalone code, which this node never does
re2Engine.code = 'aasRe2Engine'

// Ajv (~50 ms to load) and re2js (~20 ms) are loaded on the first schema to compile, not with
// this module: `aas skill run` of a skill without schemas, and every command that reads the
// node's settings, never need them (issue 12). Both ship CommonJS, so this stays synchronous.
const require = createRequire(import.meta.url)
const newAjv = (): Ajv => new (require('ajv') as typeof import('ajv')).Ajv({ allErrors: false, strict: false, code: { regExp: re2Engine } })
let ajv: Ajv | undefined
const compiled = new Map<string, ValidateFunction>()

/** Keywords whose values are data, not schemas: a `uniqueItems` inside them is not one. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples'])
const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null'])

/** Whether every item `items` allows has a scalar type (ajv then checks uniqueness by hashing). */
function scalarItems (items: unknown): boolean {
  if (items == null || typeof items !== 'object' || Array.isArray(items)) return false
  const t = (items as { type?: unknown }).type
  const types = Array.isArray(t) ? t : [t]
  return types.length > 0 && types.every(x => typeof x === 'string' && SCALAR_TYPES.has(x))
}

/** Throws SkillSchemaError COST for a `uniqueItems` whose check could be quadratic without bound. */
function checkCost (schema: unknown, at: string, depth = 0): void {
  if (schema == null || typeof schema !== 'object' || depth > 64) return
  if (Array.isArray(schema)) { schema.forEach((s, i) => { checkCost(s, `${at}/${i}`, depth + 1) }); return }
  const s = schema as Record<string, unknown>
  if (s.uniqueItems === true && !scalarItems(s.items) && !(typeof s.maxItems === 'number' && s.maxItems <= MAX_UNIQUE_ITEMS)) {
    throw new SkillSchemaError(`${at === '' ? 'the schema' : `"${at.slice(1).replaceAll('/', '.')}"`} has uniqueItems on items that may be objects or arrays, ` +
      `which compares every pair: give it "maxItems" of at most ${MAX_UNIQUE_ITEMS}, or items a scalar "type"`, SkillSchemaErrorCode.COST)
  }
  for (const [k, v] of Object.entries(s)) if (!DATA_KEYWORDS.has(k)) checkCost(v, `${at}/${k}`, depth + 1)
}

/**
 * Compiles (or reuses) a skill's schema; throws SkillSchemaError when it is not a valid JSON
 * Schema (INVALID), has a pattern RE2 cannot run (PATTERN) or an unbounded quadratic check (COST).
 */
export function compileSkillSchema (schema: object): ValidateFunction {
  const key = JSON.stringify(schema)
  const hit = compiled.get(key)
  if (hit != null) return hit
  if (compiled.size >= MAX_SCHEMAS) {
    compiled.clear()
    ajv = undefined
  }
  checkCost(schema, '')
  let fn: ValidateFunction
  try {
    fn = (ajv ??= newAjv()).compile(schema)
  } catch (err: any) {
    if (err instanceof SkillSchemaError) throw err
    throw new SkillSchemaError(String(err?.message ?? err), SkillSchemaErrorCode.INVALID)
  }
  compiled.set(key, fn)
  return fn
}

/**
 * Why `value` does not match `schema` (`field "a.b" must be …`), or undefined when it does. A
 * schema this node will not compile (one indexed before it checked them) is a problem too, not a throw.
 */
export function schemaProblem (schema: object | undefined, value: unknown): string | undefined {
  if (schema == null) return undefined
  let validate: ValidateFunction
  try {
    validate = compileSkillSchema(schema)
  } catch (err) {
    if (err instanceof SkillSchemaError) return `cannot be checked: the skill's schema is refused (${err.message})`
    throw err
  }
  if (validate(value)) return undefined
  const e = validate.errors?.[0]
  const path = (e?.instancePath ?? '').slice(1).replaceAll('/', '.')
  return `${path === '' ? '' : `field "${path}" `}${e?.message ?? 'does not match the schema'}`
}

/**
 * Why a manifest's own `inputSchema`/`outputSchema` is refused (the first one), or undefined:
 * what the index asks of a release from a peer before it stores it.
 */
export function manifestSchemasProblem (manifest: Record<string, unknown>): string | undefined {
  for (const key of ['inputSchema', 'outputSchema'] as const) {
    const schema = manifest[key]
    if (schema == null) continue
    if (typeof schema !== 'object' || Array.isArray(schema)) return `${key} is not a JSON Schema object`
    try {
      compileSkillSchema(schema)
    } catch (err) {
      if (err instanceof SkillSchemaError) return `${key}: ${err.message}`
      throw err
    }
  }
  return undefined
}

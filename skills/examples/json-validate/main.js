'use strict'
/**
 * json-validate: checks each document against a JSON Schema and lists every error with its
 * JSON Pointer. Covers the core keywords (type, enum, const, required, properties,
 * additionalProperties, patternProperties, items, prefixItems, min/max for numbers, strings,
 * arrays and objects, pattern, uniqueItems, allOf/anyOf/oneOf/not, $ref to local $defs).
 * The runtime image has no npm packages, so this is self-contained.
 *
 * Input (stdin): {"schema": SCHEMA, "documents": [DOC...], "maxErrors": 100}
 * Output (stdout): {"valid", "checked", "invalid", "results": [{"index", "valid", "errors": [{"path", "message"}]}]}
 */
const { readFileSync } = require('node:fs')

const pointer = (path) => path.map(p => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('')

function typeOf (v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function hasType (v, t) {
  const actual = typeOf(v)
  return actual === t || (t === 'number' && actual === 'integer')
}

function equal (a, b) {
  if (a === b) return true
  if (typeOf(a) !== typeOf(b) || typeof a !== 'object' || a === null) return false
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => equal(x, b[i]))
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every(k => Object.hasOwn(b, k) && equal(a[k], b[k]))
}

function resolveRef (root, ref) {
  if (!ref.startsWith('#')) throw new Error(`only local $ref is supported, got ${ref}`)
  return ref.slice(1).split('/').filter(Boolean)
    .map(s => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((node, key) => { if (node == null || !(key in node)) throw new Error(`$ref ${ref} not found`); return node[key] }, root)
}

function validate (root, schema, value, path, errors) {
  if (schema === true) return
  if (schema === false) { errors.push({ path: pointer(path), message: 'is not allowed' }); return }
  const err = (message, at = path) => errors.push({ path: pointer(at), message })
  if (schema.$ref != null) validate(root, resolveRef(root, schema.$ref), value, path, errors)
  if (schema.type != null) {
    const types = [].concat(schema.type)
    if (!types.some(t => hasType(value, t))) { err(`must be ${types.join(' or ')}`); return }
  }
  if (schema.enum != null && !schema.enum.some(e => equal(e, value))) err(`must be one of ${JSON.stringify(schema.enum)}`)
  if (Object.hasOwn(schema, 'const') && !equal(schema.const, value)) err(`must be ${JSON.stringify(schema.const)}`)
  const t = typeOf(value)
  if (t === 'object') {
    for (const k of schema.required ?? []) if (!Object.hasOwn(value, k)) err(`must have required property "${k}"`)
    const props = schema.properties ?? {}
    const patterns = Object.entries(schema.patternProperties ?? {}).map(([p, s]) => [new RegExp(p, 'u'), s])
    for (const [k, v] of Object.entries(value)) {
      const matched = patterns.filter(([re]) => re.test(k))
      if (Object.hasOwn(props, k)) continue
      for (const [, s] of matched) validate(root, s, v, [...path, k], errors)
      if (matched.length === 0 && schema.additionalProperties != null) {
        if (schema.additionalProperties === false) err('is not allowed (additionalProperties)', [...path, k])
        else validate(root, schema.additionalProperties, v, [...path, k], errors)
      }
    }
    for (const [k, s] of Object.entries(props)) if (Object.hasOwn(value, k)) validate(root, s, value[k], [...path, k], errors)
    const n = Object.keys(value).length
    if (schema.minProperties != null && n < schema.minProperties) err(`must have at least ${schema.minProperties} properties`)
    if (schema.maxProperties != null && n > schema.maxProperties) err(`must have at most ${schema.maxProperties} properties`)
  }
  if (t === 'array') {
    if (schema.minItems != null && value.length < schema.minItems) err(`must have at least ${schema.minItems} items`)
    if (schema.maxItems != null && value.length > schema.maxItems) err(`must have at most ${schema.maxItems} items`)
    const prefix = schema.prefixItems ?? []
    value.forEach((v, i) => {
      const s = i < prefix.length ? prefix[i] : schema.items
      if (s != null) validate(root, s, v, [...path, i], errors)
    })
    if (schema.uniqueItems === true && value.some((v, i) => value.findIndex(w => equal(v, w)) !== i)) err('must have unique items')
  }
  if (t === 'string') {
    const len = [...value].length
    if (schema.minLength != null && len < schema.minLength) err(`must be at least ${schema.minLength} characters`)
    if (schema.maxLength != null && len > schema.maxLength) err(`must be at most ${schema.maxLength} characters`)
    if (schema.pattern != null && !new RegExp(schema.pattern, 'u').test(value)) err(`must match pattern ${schema.pattern}`)
  }
  if (t === 'integer' || t === 'number') {
    if (schema.minimum != null && value < schema.minimum) err(`must be >= ${schema.minimum}`)
    if (schema.maximum != null && value > schema.maximum) err(`must be <= ${schema.maximum}`)
    if (schema.exclusiveMinimum != null && value <= schema.exclusiveMinimum) err(`must be > ${schema.exclusiveMinimum}`)
    if (schema.exclusiveMaximum != null && value >= schema.exclusiveMaximum) err(`must be < ${schema.exclusiveMaximum}`)
    if (schema.multipleOf != null && !Number.isInteger(value / schema.multipleOf)) err(`must be a multiple of ${schema.multipleOf}`)
  }
  const sub = (s) => { const e = []; validate(root, s, value, path, e); return e.length === 0 }
  for (const s of schema.allOf ?? []) validate(root, s, value, path, errors)
  if (schema.anyOf != null && !schema.anyOf.some(sub)) err('must match at least one schema in anyOf')
  if (schema.oneOf != null && schema.oneOf.filter(sub).length !== 1) err('must match exactly one schema in oneOf')
  if (schema.not != null && sub(schema.not)) err('must not match the schema in not')
}

const req = JSON.parse(readFileSync(0, 'utf8'))
const maxErrors = req.maxErrors ?? 100
const results = req.documents.map((doc, index) => {
  const errors = []
  validate(req.schema, req.schema, doc, [], errors)
  return { index, valid: errors.length === 0, errors: errors.slice(0, maxErrors) }
})
const invalid = results.filter(r => !r.valid).length
process.stdout.write(JSON.stringify({ valid: invalid === 0, checked: results.length, invalid, results }))

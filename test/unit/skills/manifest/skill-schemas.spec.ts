import { expect } from 'chai'
import { compileSkillSchema, manifestSchemasProblem, MAX_UNIQUE_ITEMS, schemaProblem, SkillSchemaError, SkillSchemaErrorCode, validateManifest } from '../../../../skills/manifest/index.js'

/**
 * A skill's own JSON Schemas cannot stall the node (issue 9): patterns are matched by RE2, in
 * time linear in the input, so the textbook catastrophic pattern answers at once; a pattern RE2
 * cannot run and an unbounded pairwise `uniqueItems` are refused when the schema is compiled,
 * which is where lint, publish, the index, submissions and sandbox runs all meet. The only
 * guard against a hang here is mocha's timeout: each call must return, with the right answer.
 */
const hostileInput = 'a'.repeat(100_000) + 'b'

describe('skills/manifest: skill schemas in bounded time', function () {
  it('matches a catastrophic-backtracking pattern against a hostile string in one pass', () => {
    const schema = { type: 'string', pattern: '^(a+)+$' }
    expect(schemaProblem(schema, hostileInput)).to.match(/must match pattern/)
    expect(schemaProblem(schema, 'a'.repeat(100_000))).to.equal(undefined)
  })

  it('matches patternProperties keys and nested patterns with the same engine', () => {
    const schema = {
      type: 'object',
      patternProperties: { '^(x+x+)+y$': { type: 'string', pattern: '^(\\w+\\s?)*$' } },
      additionalProperties: false
    }
    const key = 'x'.repeat(20_000)
    // the key does not match the pattern: an additional property, found without backtracking
    expect(schemaProblem(schema, { [key]: 'v' })).to.match(/additional properties/)
    expect(schemaProblem(schema, { [key + 'y']: 'word '.repeat(20_000) + '!' })).to.match(/must match pattern/)
    expect(schemaProblem(schema, { xxy: 'two words' })).to.equal(undefined)
  })

  it('keeps two patterns of one schema apart, and reads ECMA-262 escapes', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'string', pattern: '^[\\u0041-\\u005A]+$' }, b: { type: 'string', pattern: '^\\d{4}$' } }
    }
    expect(schemaProblem(schema, { a: 'ABC', b: '2024' })).to.equal(undefined)
    expect(schemaProblem(schema, { a: 'abc', b: '2024' })).to.match(/^field "a" must match pattern/)
    expect(schemaProblem(schema, { a: 'ABC', b: '24' })).to.match(/^field "b" must match pattern/)
  })

  for (const pattern of ['(a)\\1', '^(?=a)a$', '(?<!b)a', 'a{2000}']) {
    it(`refuses a pattern RE2 cannot run in linear time: ${pattern}`, () => {
      const schema = { type: 'string', pattern }
      let err: unknown
      try { compileSkillSchema(schema) } catch (e) { err = e }
      expect(err).to.be.instanceOf(SkillSchemaError)
      expect((err as SkillSchemaError).code).to.equal(SkillSchemaErrorCode.PATTERN)
      expect((err as Error).message).to.include(JSON.stringify(pattern))
      // a validation against such a schema (a release indexed before this check) is a problem, not a throw
      expect(schemaProblem(schema, 'a')).to.match(/^cannot be checked: the skill's schema is refused/)
    })
  }

  it('refuses uniqueItems that would compare every pair without a bound', () => {
    const unbounded = { type: 'object', properties: { rows: { type: 'array', items: { type: 'object' }, uniqueItems: true } } }
    let err: any
    try { compileSkillSchema(unbounded) } catch (e) { err = e }
    expect(err?.name).to.equal('SkillSchemaError')
    expect(err?.code).to.equal(SkillSchemaErrorCode.COST)
    expect(err?.message).to.include('"properties.rows"')
    // bounded by maxItems, or items of scalar types (hashed, linear): accepted
    expect(() => compileSkillSchema({ type: 'array', items: { type: 'object' }, uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS })).to.not.throw()
    expect(() => compileSkillSchema({ type: 'array', items: { type: ['string', 'integer'] }, uniqueItems: true })).to.not.throw()
    const tags = { type: 'array', items: { type: 'string' }, uniqueItems: true }
    expect(schemaProblem(tags, Array.from({ length: 50_000 }, (_, i) => `t${i}`))).to.equal(undefined)
    expect(schemaProblem(tags, ['x', 'y', 'x'])).to.match(/duplicate items/)
    // a "uniqueItems" inside data (an enum value) is not a keyword
    expect(() => compileSkillSchema({ enum: [{ uniqueItems: true }] })).to.not.throw()
  })

  it('a manifest with such a schema is refused by field; the index check names it', () => {
    const manifest = {
      name: 'redos',
      version: '1.0.0',
      description: 'd',
      runtime: 'sh',
      entrypoint: 'main.sh',
      inputSchema: { type: 'object', properties: { s: { type: 'string', pattern: '(a)\\1' } } }
    }
    let err: any
    try { validateManifest(manifest) } catch (e) { err = e }
    expect(err?.name).to.equal('ManifestError')
    expect(err?.field).to.equal('inputSchema')
    expect(err?.message).to.match(/field "inputSchema" is refused: pattern "\(a\)\\\\1" cannot be matched in linear time/)
    expect(manifestSchemasProblem(manifest)).to.match(/^inputSchema: pattern/)
    expect(manifestSchemasProblem({ ...manifest, inputSchema: { type: 'string', pattern: '^(a+)+$' } })).to.equal(undefined)
    expect(manifestSchemasProblem({ ...manifest, inputSchema: 'no' })).to.match(/not a JSON Schema object/)
  })
})

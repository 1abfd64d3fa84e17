import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  compileValidator, manifestLintValidatorSpec, manifestSchema, manifestValidatorSpec, precompiledValidator,
  schemaStamp, schemaValidator, standaloneSource, type PrecompiledSpec
} from '../../../../skills/manifest/index.js'
import { configValidatorSpec, defaultNodeConfig } from '../../../../node/config/index.js'
import { NodeConfigSchema } from '../../../../node/config/schema.js'
import { writeValidators } from '../../../../scripts/build/validators.js'

/**
 * Validators generated at build time (skills/manifest/precompiled.ts): the generated code
 * gives the verdicts and errors the schema compiled at run time gives, and it is used only
 * while its stamp matches the schema module as it is now.
 */

/** The spec with its generated file moved to a scratch name in the same dist folder (so Ajv's runtime resolves). */
function scratch (spec: PrecompiledSpec): PrecompiledSpec {
  return { ...spec, out: new URL(`./test-${randomBytes(6).toString('hex')}.validate.cjs`, spec.out) }
}

const manifest = { name: 'echo-x', version: '1.0.0', description: 'echo', runtime: 'python3', entrypoint: 'main.py' }
const manifests: unknown[] = [
  manifest,
  { ...manifest, tags: ['a', 'b'], resources: { memoryMB: 64, cpus: 0.5 }, tests: [{ input: {}, expect: {} }] },
  { ...manifest, name: undefined },
  { ...manifest, name: 'Bad Name', version: '1', extra: true },
  { ...manifest, tags: ['a', 'a'] },
  { ...manifest, resources: { memoryMB: 1, cpus: 0 } },
  { ...manifest, runtime: 'ruby' },
  'not an object'
]
const config = defaultNodeConfig()
const configs: unknown[] = [
  config,
  { ...config, nope: 1 },
  { ...config, gossip: { ...config.gossip, maxAgeS: 'x' } },
  { ...config, logLevel: 'loud' },
  { ...config, mesh: { ...config.mesh, targetPeers: -1 } },
  { ...config, listen: undefined }
]

describe('skills/manifest: precompiled validators', () => {
  const cases: Array<[string, PrecompiledSpec, object, unknown[]]> = [
    ['node config', configValidatorSpec, NodeConfigSchema, configs],
    ['skill.json', manifestValidatorSpec, manifestSchema, manifests],
    ['skill.json (every problem)', manifestLintValidatorSpec, manifestSchema, manifests]
  ]
  for (const [what, spec, schema, samples] of cases) {
    it(`${what}: the generated code agrees with the schema compiled now, errors included`, async () => {
      const s = scratch(spec)
      try {
        await writeFile(s.out, standaloneSource(s, schema))
        const generated = precompiledValidator(s)
        expect(generated).to.be.a('function')
        const live = compileValidator(s, schema)
        for (const sample of samples) {
          expect(generated!(sample), JSON.stringify(sample)).to.equal(live(sample))
          expect(generated!.errors ?? null).to.deep.equal(live.errors ?? null)
        }
        expect(samples.filter(x => live(x)).length).to.be.within(1, samples.length - 1) // both verdicts were tried
      } finally { await rm(s.out, { force: true }) }
    })
  }

  it('a generated file is used only under the schema\'s stamp now: otherwise the schema is compiled instead', async () => {
    const s = scratch(manifestValidatorSpec)
    try {
      // the code of a schema that accepts anything, under the right stamp: used
      const anything = standaloneSource(s, {})
      await writeFile(s.out, anything)
      expect(precompiledValidator(s)?.({ ...manifest, extra: 1 })).to.equal(true)
      // the same under a stamp that does not match: ignored, the schema is compiled now
      await writeFile(s.out, anything.replace(/^\/\/ aas-validator-stamp: [0-9a-f]{64}/, `// aas-validator-stamp: ${'0'.repeat(64)}`))
      expect(precompiledValidator(s)).to.equal(undefined)
      const v = schemaValidator(s, () => manifestSchema)
      expect(v(manifest)).to.equal(true)
      expect(v({ ...manifest, extra: 1 })).to.equal(false)
      expect(v.errors?.[0]?.keyword).to.equal('additionalProperties')
    } finally { await rm(s.out, { force: true }) }
  })

  it('no generated file (only tsc ran): undefined, and the schema is compiled', () => {
    const s = scratch(manifestValidatorSpec)
    expect(precompiledValidator(s)).to.equal(undefined)
    expect(schemaValidator(s, () => manifestSchema)(manifest)).to.equal(true)
  })

  it('the stamp follows the schema module and the local modules it imports, and the options', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aas-precompiled-'))
    try {
      await writeFile(join(dir, 'limits.js'), 'export const MAX = 5\n')
      await writeFile(join(dir, 'other.js'), 'export const X = 1\n')
      await writeFile(join(dir, 'schema.js'), "import { MAX } from './limits.js'\nexport const schema = { type: 'integer', maximum: MAX }\n")
      const spec: PrecompiledSpec = { schemaModule: pathToFileURL(join(dir, 'schema.js')), exportName: 'schema', options: { strict: true }, out: pathToFileURL(join(dir, 'schema.validate.cjs')) }
      const first = schemaStamp(spec)
      expect(first).to.match(/^[0-9a-f]{64}$/)
      await writeFile(join(dir, 'other.js'), 'export const X = 2\n')
      expect(schemaStamp(spec)).to.equal(first)
      await writeFile(join(dir, 'limits.js'), 'export const MAX = 6\n')
      const second = schemaStamp(spec)
      expect(second).to.not.equal(first)
      expect(schemaStamp({ ...spec, options: { strict: true, allErrors: true } })).to.not.equal(second)
      expect(schemaStamp({ ...spec, exportName: 'other' })).to.not.equal(second)
    } finally { await rm(dir, { recursive: true, force: true }) }
  })

  it('the build step writes every validator it lists, each under its stamp line, whole', async () => {
    const specs = [scratch(configValidatorSpec), scratch(manifestValidatorSpec)]
    try {
      const files = await writeValidators(specs)
      expect(files).to.have.length(2)
      for (const s of specs) {
        const text = await readFile(s.out, 'utf8')
        expect(text.split('\n')[0]).to.equal(`// aas-validator-stamp: ${schemaStamp(s)}`)
        expect(precompiledValidator(s)).to.be.a('function')
      }
    } finally { await Promise.all(specs.map(async s => { await rm(s.out, { force: true }) })) }
  })
})

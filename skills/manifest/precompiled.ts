import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Options, ValidateFunction } from 'ajv'

/**
 * JSON Schema validators compiled ahead of time. Every CLI command that reads settings checks
 * the node config, and `aas skill run` checks a manifest: compiling those schemas with Ajv
 * costs ~90 and ~45 ms, loading Ajv's compiler ~50 ms and TypeBox (which builds the config
 * schema) ~120 ms, on every start (measured, issue 12). So the build (`npm run build`, and
 * `prepare`, `test`, `bench`, `demo`, which build too) runs scripts/build/validators.ts, which
 * writes each validator as Ajv standalone code next to its schema module in dist/, stamped with
 * a hash of that compiled module and of the local modules it imports.
 *
 * The generated code is used only while its stamp matches the schema module as it is now;
 * otherwise (a schema changed and only `tsc` ran, or nothing was generated) the schema is
 * compiled at run time as before. So a schema change is picked up by itself, with no copy to
 * keep by hand: a stale file costs time, never a wrong verdict.
 *
 * Why at build time rather than a runtime cache of standalone code under the user's cache
 * directory (keyed by the schema's hash): the generated file is code that this process
 * executes, and this way it lives with the rest of the installed code and is written by the
 * build, never by a running CLI or node into a directory of its own; and the runtime check
 * needs no schema object, so the config path never loads TypeBox to compute a key.
 */

const require = createRequire(import.meta.url)

/** Bumped when the form of the generated file changes, so older files are ignored. */
const FORMAT = 1
const STAMP_LINE = /^\/\/ aas-validator-stamp: ([0-9a-f]{64})\n/

export interface PrecompiledSpec {
  /** The compiled (dist) module that exports the schema. */
  schemaModule: URL
  /** The export of `schemaModule` that holds the JSON Schema. */
  exportName: string
  /** Ajv options of this validator (they change the generated code). */
  options: Pick<Options, 'allErrors' | 'strict'>
  /** Where the build writes the standalone code: a `.cjs` file in the same dist folder. */
  out: URL
}

/** Relative imports and re-exports of a compiled ES module (type-only imports are gone by then). */
function localImports (source: string): string[] {
  const out: string[] = []
  for (const m of source.matchAll(/(?:^|[\n;])\s*(?:import|export)\s*(?:[^'";]*?\sfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1])
  return out
}

/**
 * The hash of what decides the generated code: this file's format, the Ajv version and
 * options, and the text of the schema module with every local module it imports (a schema
 * built from another file's constants changes with that file). Packages it imports are not
 * followed: they change only with the lockfile, and every install builds.
 */
export function schemaStamp (spec: PrecompiledSpec): string {
  const hash = createHash('sha256')
  hash.update(`${FORMAT}\0${String((require('ajv/package.json') as { version: string }).version)}\0${JSON.stringify(spec.options)}\0${spec.exportName}\0`)
  const root = dirname(fileURLToPath(spec.schemaModule))
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    hash.update(`${relative(root, file)}\0${text}\0`)
    for (const spec of localImports(text)) visit(join(dirname(file), spec))
  }
  visit(fileURLToPath(spec.schemaModule))
  return hash.digest('hex')
}

/** The generated validator, or undefined when there is none or its stamp is not the schema's now. */
export function precompiledValidator<T> (spec: PrecompiledSpec): ValidateFunction<T> | undefined {
  const file = fileURLToPath(spec.out)
  let head: string
  try {
    head = readFileSync(file, 'utf8').slice(0, 200)
  } catch {
    return undefined
  }
  const stamp = STAMP_LINE.exec(head)?.[1]
  if (stamp == null || stamp !== schemaStamp(spec)) return undefined
  const mod = require(file) as ValidateFunction<T> & { default?: ValidateFunction<T> }
  return mod.default ?? mod
}

/** Compiles the schema now (Ajv loaded on first use): what every validator did before. */
export function compileValidator<T> (spec: PrecompiledSpec, schema: object): ValidateFunction<T> {
  const { Ajv } = require('ajv') as typeof import('ajv')
  return new Ajv(spec.options).compile<T>(schema)
}

/** The generated validator when it is current, else the schema compiled now. */
export function schemaValidator<T> (spec: PrecompiledSpec, schema: () => object): ValidateFunction<T> {
  return precompiledValidator<T>(spec) ?? compileValidator<T>(spec, schema())
}

/** The file the build writes for `spec`: Ajv standalone code (CommonJS) under its stamp line. */
export function standaloneSource (spec: PrecompiledSpec, schema: object): string {
  const { Ajv } = require('ajv') as typeof import('ajv')
  const standalone = (require('ajv/dist/standalone') as { default: (ajv: InstanceType<typeof Ajv>, fn: ValidateFunction) => string }).default
  const ajv = new Ajv({ ...spec.options, code: { source: true } })
  const code = standalone(ajv, ajv.compile(schema))
  const from = relative(dirname(fileURLToPath(spec.out)), fileURLToPath(spec.schemaModule))
  return `// aas-validator-stamp: ${schemaStamp(spec)}\n// Generated by scripts/build/validators.ts from ${from} (${spec.exportName}); do not edit.\n${code}\n`
}

import { randomBytes } from 'node:crypto'
import { rename, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { manifestLintValidatorSpec, manifestValidatorSpec, standaloneSource, type PrecompiledSpec } from '../../skills/manifest/index.js'
import { configValidatorSpec } from '../../node/config/index.js'

/**
 * Build step after `tsc` (package.json: build, prepare, test, bench, demo): writes the JSON
 * Schema validators the CLI and the node use as Ajv standalone code next to their schema
 * modules in dist/, so no command compiles a schema when it starts (see
 * skills/manifest/precompiled.ts). Each file is written whole or not at all (temporary file +
 * rename). A validator is listed here once; its spec (module, export, options) lives with its
 * part, and the schema itself is read from the freshly compiled module, never copied.
 */
export const validatorSpecs: PrecompiledSpec[] = [configValidatorSpec, manifestValidatorSpec, manifestLintValidatorSpec]

async function writeAtomic (file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, text, { mode: 0o644 })
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

export async function writeValidators (specs: PrecompiledSpec[] = validatorSpecs): Promise<string[]> {
  const written: string[] = []
  for (const spec of specs) {
    const schema = (await import(spec.schemaModule.href) as Record<string, unknown>)[spec.exportName]
    if (schema == null || typeof schema !== 'object') throw new Error(`${fileURLToPath(spec.schemaModule)} exports no schema "${spec.exportName}"`)
    const file = fileURLToPath(spec.out)
    await writeAtomic(file, standaloneSource(spec, schema))
    written.push(file)
  }
  return written
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeValidators().catch((err: any) => {
    process.stderr.write(`validators: ${String(err?.message ?? err)}\n`)
    process.exit(1)
  })
}

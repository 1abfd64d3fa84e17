import type { ValidateFunction } from 'ajv'
import { compileValidator, precompiledValidator, type PrecompiledSpec } from '../../skills/manifest/index.js'
import type { NodeConfig } from './schema.js'

/**
 * The config's validator: generated at build time from schema.ts (see
 * skills/manifest/precompiled.ts), so a command that reads settings loads neither TypeBox nor
 * Ajv's compiler. When schema.ts changed since the last build, the schema is compiled here as
 * before, so a new field is checked at once.
 */
export const configValidatorSpec: PrecompiledSpec = {
  schemaModule: new URL('./schema.js', import.meta.url),
  exportName: 'NodeConfigSchema',
  options: { allErrors: false, strict: true },
  out: new URL('./schema.validate.cjs', import.meta.url)
}

let validator: Promise<ValidateFunction<NodeConfig>> | undefined

export async function configValidator (): Promise<ValidateFunction<NodeConfig>> {
  return await (validator ??= (async () => precompiledValidator<NodeConfig>(configValidatorSpec) ??
    compileValidator<NodeConfig>(configValidatorSpec, (await import('./schema.js')).NodeConfigSchema))())
}

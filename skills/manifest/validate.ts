import type { ValidateFunction } from 'ajv'
import { manifestSchema, type Manifest } from './schema.js'
import { schemaValidator, type PrecompiledSpec } from './precompiled.js'

/**
 * The validators of `skill.json`, generated at build time (see precompiled.ts) and made on
 * first use: a run checks with the first error only; `aas skill lint` with every problem.
 */
export const manifestValidatorSpec: PrecompiledSpec = {
  schemaModule: new URL('./schema.js', import.meta.url),
  exportName: 'manifestSchema',
  options: { allErrors: false, strict: false },
  out: new URL('./schema.validate.cjs', import.meta.url)
}

export const manifestLintValidatorSpec: PrecompiledSpec = {
  ...manifestValidatorSpec,
  options: { allErrors: true, strict: false },
  out: new URL('./schema.validate-all.cjs', import.meta.url)
}

let first: ValidateFunction<Manifest> | undefined
let all: ValidateFunction<Manifest> | undefined

export function manifestValidator (): ValidateFunction<Manifest> {
  return (first ??= schemaValidator<Manifest>(manifestValidatorSpec, () => manifestSchema))
}

export function manifestLintValidator (): ValidateFunction<Manifest> {
  return (all ??= schemaValidator<Manifest>(manifestLintValidatorSpec, () => manifestSchema))
}

/**
 * skills/manifest: the skill folder contract: `skill.json`'s schema, its loading and
 * validation with errors that name the field, and the entrypoint's containment checks.
 */
export * from './schema.js'
export * from './errors.js'
export * from './load.js'
export * from './skill-schemas.js'
export * from './lint.js'
export * from './precompiled.js'
export { manifestValidatorSpec, manifestLintValidatorSpec } from './validate.js'

/**
 * The JSON Schema of `skill.json`, the manifest every skill folder carries. It is the
 * contract between skill authors, the sandbox runner and (later) the publishing gate.
 * A copy for editors and other tools is written to skills/manifest/skill.schema.json by
 * `npm run build` (see scripts/write-schemas.ts); this module is the source.
 */
export const RUNTIMES = ['python3', 'node', 'sh'] as const
export type Runtime = typeof RUNTIMES[number]

export interface ManifestResources {
  memoryMB?: number
  cpus?: number
  pids?: number
  timeoutS?: number
}

export interface ManifestTest {
  input: unknown
  expect: unknown
}

export interface Manifest {
  name: string
  version: string
  description: string
  runtime: Runtime
  entrypoint: string
  category?: string
  tags?: string[]
  inputSchema?: Record<string, unknown>
  outputSchema?: Record<string, unknown>
  resources?: ManifestResources
  tier?: number
  tests?: ManifestTest[]
}

export const manifestSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://aas.invalid/schemas/skill.json',
  title: 'AAS skill manifest (skill.json)',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'description', 'runtime', 'entrypoint'],
  properties: {
    name: { type: 'string', pattern: '^[a-z][a-z0-9]*(-[a-z0-9]+)*$', minLength: 2, maxLength: 64, description: 'lowercase words joined by dashes' },
    version: { type: 'string', pattern: '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$', maxLength: 64, description: 'semantic version' },
    description: { type: 'string', minLength: 1, maxLength: 1000 },
    runtime: { type: 'string', enum: [...RUNTIMES] },
    entrypoint: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^/\\\\][^\\\\]*$', description: 'a file inside the skill folder, relative' },
    category: { type: 'string', minLength: 1, maxLength: 64 },
    tags: { type: 'array', maxItems: 32, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 } },
    inputSchema: { type: 'object' },
    outputSchema: { type: 'object' },
    tier: { type: 'integer', minimum: 0, maximum: 9 },
    resources: {
      type: 'object',
      additionalProperties: false,
      properties: {
        memoryMB: { type: 'integer', minimum: 16, maximum: 65536 },
        cpus: { type: 'number', exclusiveMinimum: 0, maximum: 64 },
        pids: { type: 'integer', minimum: 4, maximum: 4096 },
        timeoutS: { type: 'number', exclusiveMinimum: 0, maximum: 86400 }
      }
    },
    tests: {
      type: 'array',
      maxItems: 100,
      items: { type: 'object', additionalProperties: false, required: ['input', 'expect'], properties: { input: {}, expect: {} } }
    }
  }
} as const

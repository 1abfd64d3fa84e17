import type { MessageSpec } from '../registry.js'

/**
 * `learned-answer`: an origin shares with its team an answer a reviewer allowed to be reused
 * (or that the answer was withdrawn), so the team learns together. Team topic only: it is
 * gossiped nowhere else, and only members of the sender's own team take it in.
 */
export interface LearnedAnswerBody {
  skill: string
  major: number
  version: string
  /** The input's fingerprint (sha2-256 of its canonical encoding, hex): never the input. */
  input: string
  output: unknown
  /** The task the review was on. */
  review: string
  resolvedBy: string
  annotation: string
  at: number
  withdrawn: { by: string, at: number } | null
}

export const learnedAnswer: MessageSpec<LearnedAnswerBody> = {
  type: 'learned-answer',
  topic: '',
  teamScoped: true,
  maxBytes: 256 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['skill', 'major', 'version', 'input', 'output', 'review', 'resolvedBy', 'annotation', 'at', 'withdrawn'],
    properties: {
      skill: { type: 'string', minLength: 2, maxLength: 64 },
      major: { type: 'integer', minimum: 0, maximum: 1_000_000 },
      version: { type: 'string', minLength: 5, maxLength: 64 },
      input: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      output: {},
      review: { type: 'string', minLength: 10, maxLength: 128 },
      resolvedBy: { type: 'string', minLength: 1, maxLength: 128 },
      annotation: { type: 'string', maxLength: 4096 },
      at: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      withdrawn: {
        anyOf: [
          { type: 'null' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['by', 'at'],
            properties: { by: { type: 'string', minLength: 1, maxLength: 128 }, at: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } }
          }
        ]
      }
    }
  },
  role: 'node'
}

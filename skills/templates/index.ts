/**
 * skills/templates: the starting folder `aas skill init` writes for each runtime. Every
 * template is the same small, working skill (count the words of `text`) with schemas, one
 * passing `tests` case and a README, so a new author edits something that already passes
 * `aas skill test` and `aas skill lint` rather than starting from an empty folder.
 */
import type { Manifest, Runtime } from '../manifest/index.js'

/** A file of the new folder: its path inside it and its text. */
export interface TemplateFile { path: string, text: string }

const ENTRYPOINT: Record<Runtime, string> = { python3: 'main.py', node: 'main.js', sh: 'main.sh' }

const SOURCE: Record<Runtime, (name: string) => string> = {
  python3: (name) => `"""${name}: counts the words of "text".

Input (stdin): {"text": TEXT}
Output (stdout): {"words": N}
Logs go to stderr; exit 0 on success. To hand the task to a person instead, print
{"needsHuman": {"reason": "..."}} as the whole output and exit 0.
"""
import json
import sys


def main():
    req = json.load(sys.stdin)
    json.dump({"words": len(req["text"].split())}, sys.stdout)


if __name__ == "__main__":
    main()
`,
  node: (name) => `'use strict'
/**
 * ${name}: counts the words of "text".
 *
 * Input (stdin): {"text": TEXT}
 * Output (stdout): {"words": N}
 * Logs go to stderr; exit 0 on success. To hand the task to a person instead, print
 * {"needsHuman": {"reason": "..."}} as the whole output and exit 0.
 */
const { readFileSync } = require('node:fs')

const req = JSON.parse(readFileSync(0, 'utf8'))
const words = req.text.split(/\\s+/).filter(w => w !== '').length
process.stdout.write(JSON.stringify({ words }) + '\\n')
`,
  sh: (name) => `# ${name}: counts the words of "text".
#
# Input (stdin): {"text": TEXT}
# Output (stdout): {"words": N}
# The sh image has dash and coreutils only (no jq): the value of "text" is cut out of the
# input with parameter expansion, which is enough for plain text without escaped quotes.
# Logs go to stderr; exit 0 on success. To hand the task to a person instead, print
# {"needsHuman": {"reason": "..."}} as the whole output and exit 0.
set -eu
input=$(cat)
rest=\${input#*'"text"'}
rest=\${rest#*'"'}
text=\${rest%%'"'*}
words=$(printf '%s' "$text" | wc -w)
printf '{"words": %d}\\n' "$((words))"
`
}

export function skillManifest (name: string, runtime: Runtime): Manifest {
  return {
    name,
    version: '0.1.0',
    description: `${name}: counts the words of "text" (a starting point: edit me)`,
    runtime,
    entrypoint: ENTRYPOINT[runtime],
    category: 'text',
    tags: ['example'],
    resources: { memoryMB: 128, cpus: 1, pids: 16, timeoutS: 20 },
    inputSchema: {
      type: 'object',
      required: ['text'],
      additionalProperties: false,
      properties: { text: { type: 'string', maxLength: 100000 } }
    },
    outputSchema: {
      type: 'object',
      required: ['words'],
      additionalProperties: false,
      properties: { words: { type: 'integer', minimum: 0 } }
    },
    tests: [{ input: { text: 'hello brave new world' }, expect: { words: 4 } }]
  }
}

function readme (name: string, runtime: Runtime): string {
  return `# ${name}

Counts the words of \`text\`. A starting point made by \`aas skill init\`: change the code in
\`${ENTRYPOINT[runtime]}\`, the schemas and the \`tests\` in \`skill.json\`, then:

    aas skill lint .
    aas skill test .
    aas skill run . --input '{"text": "one two three"}'
    aas skill publish . --key author.key

Input: \`{"text": TEXT}\` on stdin. Output: \`{"words": N}\` on stdout.
`
}

/** The files of a new skill folder named NAME for RUNTIME. */
export function skillTemplate (name: string, runtime: Runtime): TemplateFile[] {
  return [
    { path: 'skill.json', text: `${JSON.stringify(skillManifest(name, runtime), null, 2)}\n` },
    { path: ENTRYPOINT[runtime], text: SOURCE[runtime](name) },
    { path: 'README.md', text: readme(name, runtime) }
  ]
}

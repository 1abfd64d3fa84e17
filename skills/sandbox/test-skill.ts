import { isDeepStrictEqual } from 'node:util'
import { loadManifest, ManifestError } from '../manifest/index.js'
import { SandboxRunner } from './runner.js'
import type { RunStatus } from './result.js'

/**
 * Runs every `tests` case of a skill's manifest in the sandbox and compares the output with
 * `expect` (deep equality). The publishing gate uses it: a skill with no tests does not pass.
 */
export interface TestCaseReport {
  index: number
  passed: boolean
  status: RunStatus
  durationMs: number
  reason?: string
  output?: unknown
  /** A failed case's `expect`, beside what it got. */
  expected?: unknown
}

export interface TestReport {
  name: string
  version: string
  ok: boolean
  passed: number
  cases: TestCaseReport[]
}

export async function testSkill (dir: string, runner = new SandboxRunner()): Promise<TestReport> {
  const manifest = await loadManifest(dir)
  const tests = manifest.tests ?? []
  if (tests.length === 0) throw new ManifestError(`${manifest.name} has no tests: add at least one {input, expect} case to "tests" in skill.json`, 'ERR_MANIFEST_SCHEMA', 'tests')
  const cases: TestCaseReport[] = []
  for (const [index, t] of tests.entries()) {
    const r = await runner.run(dir, t.input)
    const passed = r.status === 'succeeded' && isDeepStrictEqual(r.output, t.expect)
    cases.push({
      index,
      passed,
      status: r.status,
      durationMs: r.durationMs,
      ...(passed ? {} : { reason: r.status === 'succeeded' ? `expected ${brief(t.expect)}, got ${brief(r.output)}` : (r.error ?? r.status), output: r.output, expected: t.expect })
    })
  }
  const passed = cases.filter(c => c.passed).length
  return { name: manifest.name, version: manifest.version, ok: passed === cases.length, passed, cases }
}

/** A value as JSON, cut to a length a terminal line can show. */
function brief (v: unknown): string {
  const text = JSON.stringify(v) ?? 'undefined'
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

import { median } from './stats.js'
import type { BenchReport, BenchResult } from './types.js'

/**
 * From a benchmark's samples to what is printed: the harness, not each benchmark, takes the
 * medians and the ratio, so every benchmark reports them the same way.
 */
export function toReport (result: BenchResult): BenchReport {
  const value = median(result.samples)
  const baseline = median(result.baseline)
  return {
    name: result.name,
    unit: result.unit,
    value: round3(value),
    baseline: round3(baseline),
    ratio: round3(value / baseline),
    rounds: result.samples.length
  }
}

/** The fields of a `--json` line, in their order: nothing else goes on it. */
export const REPORT_FIELDS = ['name', 'unit', 'value', 'baseline', 'ratio', 'rounds'] as const

/**
 * One `--json` line: exactly `{name, unit, value, baseline, ratio, rounds}` (issue 12), so a
 * reader can rely on the shape of every line; a benchmark's extra figures are not on it
 * (`extraLine` gives them to a person, on stderr).
 */
export function jsonLine (r: BenchReport): string {
  const out: Record<string, unknown> = {}
  for (const k of REPORT_FIELDS) out[k] = r[k]
  return JSON.stringify(out)
}

/** A result's extra figures for a person (`name: p99 31, nodes 5`), or undefined when it has none. */
export function extraLine (name: string, extra: BenchResult['extra']): string | undefined {
  const more = figures(extra)
  return more.length === 0 ? undefined : `${name}: ${more.join(', ')}`
}

function figures (extra: BenchResult['extra']): string[] {
  return Object.entries(extra ?? {}).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
}

/** Three decimals: below a microsecond in ms the clock and the machine are noise. */
function round3 (x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x
}

/** One line for a person: `name  median X unit  baseline Y unit  ratio Z×  (N rounds, extra…)`. */
export function formatReport (r: BenchReport, extra?: BenchResult['extra']): string {
  const more = figures(extra)
  return `${r.name.padEnd(26)} median ${fmt(r.value)} ${r.unit}   baseline ${fmt(r.baseline)} ${r.unit}   ratio ${fmt(r.ratio)}×   (${[`${r.rounds} rounds`, ...more].join(', ')})`
}

function fmt (x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x)
  const a = Math.abs(x)
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2)
}

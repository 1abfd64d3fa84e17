import { median } from './stats.js'
import type { BenchReport, BenchResult } from './types.js'

/**
 * From a benchmark's samples to what is printed: the harness, not each benchmark, takes the
 * medians and the ratio, so every benchmark reports them the same way.
 */
export function toReport (result: BenchResult): BenchReport {
  const value = median(result.samples)
  const baseline = median(result.baseline)
  const report: BenchReport = {
    name: result.name,
    unit: result.unit,
    value: round3(value),
    baseline: round3(baseline),
    ratio: round3(value / baseline),
    rounds: result.samples.length
  }
  // extra figures follow the standard ones and never replace them
  for (const [k, v] of Object.entries(result.extra ?? {})) if (!(k in report)) report[k] = v
  return report
}

/** Three decimals: below a microsecond in ms the clock and the machine are noise. */
function round3 (x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x
}

/** One line for a person: `name  median X unit  baseline Y unit  ratio Z×  (N rounds, extra…)`. */
export function formatReport (r: BenchReport): string {
  const { name, unit, value, baseline, ratio, rounds, ...extra } = r
  const more = Object.entries(extra).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
  return `${name.padEnd(26)} median ${fmt(value)} ${unit}   baseline ${fmt(baseline)} ${unit}   ratio ${fmt(ratio)}×   (${[`${rounds} rounds`, ...more].join(', ')})`
}

function fmt (x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x)
  const a = Math.abs(x)
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2)
}

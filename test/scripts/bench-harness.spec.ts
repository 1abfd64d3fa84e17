import { expect } from 'chai'
import { join } from 'node:path'
import { median, percentile, summary } from '../../scripts/bench/stats.js'
import { REPORT_FIELDS, extraLine, formatReport, jsonLine, toReport } from '../../scripts/bench/report.js'
import { measure, measurePair } from '../../scripts/bench/measure.js'
import type { BenchContext } from '../../scripts/bench/types.js'
import { REPO, runNode } from './run-node.js'

/**
 * The benchmark harness without running a benchmark: its statistics, how samples become a
 * printed result, warm-up rounds being discarded, and how an unknown name is refused.
 */
describe('scripts/bench: harness', () => {
  describe('stats', () => {
    it('median: the middle sample, or the mean of the two middle ones', () => {
      expect(median([3, 1, 2])).to.equal(2)
      expect(median([4, 1, 3, 2])).to.equal(2.5)
      expect(median([7])).to.equal(7)
      expect(median([5, 5, 1, 100])).to.equal(5)
    })

    it('median does not reorder its input', () => {
      const xs = [3, 1, 2]
      median(xs)
      expect(xs).to.deep.equal([3, 1, 2])
    })

    it('percentile: nearest rank, always one of the samples', () => {
      const xs = Array.from({ length: 10 }, (_, i) => 10 - i) // 10..1, unsorted
      expect(percentile(xs, 50)).to.equal(5) // rank ⌈5⌉ = 5
      expect(percentile(xs, 90)).to.equal(9)
      expect(percentile(xs, 91)).to.equal(10) // rank ⌈9.1⌉ = 10
      expect(percentile(xs, 99)).to.equal(10)
      expect(percentile(xs, 100)).to.equal(10)
      expect(percentile(xs, 0)).to.equal(1)
      expect(percentile(xs, 10)).to.equal(1)
      expect(percentile(xs, 11)).to.equal(2)
      // p99 of 30 rounds is the worst round, not an interpolation past it
      const thirty = Array.from({ length: 30 }, (_, i) => i + 1)
      expect(percentile(thirty, 99)).to.equal(30)
      expect(percentile(thirty, 50)).to.equal(15)
    })

    it('refuses no samples, non-finite samples and p outside 0..100', () => {
      expect(() => median([])).to.throw(RangeError)
      expect(() => percentile([1], 101)).to.throw(RangeError)
      expect(() => percentile([1], -1)).to.throw(RangeError)
      expect(() => percentile([1], NaN)).to.throw(RangeError)
      expect(() => median([1, NaN])).to.throw(RangeError)
    })

    it('summary', () => {
      expect(summary([4, 2, 1, 3])).to.deep.equal({ n: 4, min: 1, max: 4, mean: 2.5, median: 2.5, p90: 4, p99: 4 })
    })
  })

  describe('report', () => {
    it('value and baseline are medians, ratio their quotient', () => {
      const r = toReport({ name: 'x-n5', unit: 'ms', samples: [10, 30, 20], baseline: [4, 6, 5, 1000], extra: { p99: 30, nodes: 5 } })
      expect(r).to.deep.equal({ name: 'x-n5', unit: 'ms', value: 20, baseline: 5.5, ratio: 3.636, rounds: 3 })
    })

    it('a --json line is exactly {name, unit, value, baseline, ratio, rounds}, in that order, whatever the extra figures', () => {
      const result = { name: 'y', unit: 'MiB/s', samples: [2, 4], baseline: [1], extra: { value: 99, name: 'z', p99: 4, baselineIs: 'raw TCP' } }
      const line = jsonLine(toReport(result))
      expect(line).to.not.include('\n')
      const parsed = JSON.parse(line)
      expect(Object.keys(parsed)).to.deep.equal(['name', 'unit', 'value', 'baseline', 'ratio', 'rounds'])
      expect(Object.keys(parsed)).to.deep.equal([...REPORT_FIELDS])
      expect(parsed).to.deep.equal({ name: 'y', unit: 'MiB/s', value: 3, baseline: 1, ratio: 3, rounds: 2 })
      expect(JSON.parse(jsonLine({ ...toReport(result), ...{ p99: 1 } } as any))).to.not.have.property('p99')
    })

    it('extra figures go on the readable line and on their own line, never over the standard fields', () => {
      const result = { name: 'y', unit: 'ms', samples: [2], baseline: [1], extra: { value: 99, p99: 2.5, baselineIs: 'podman run' } }
      const r = toReport(result)
      expect(r.value).to.equal(2)
      expect(formatReport(r, result.extra)).to.match(/^y +median 2 ms +baseline 1 ms +ratio 2× +\(1 rounds, value 99, p99 2\.50, baselineIs podman run\)$/)
      expect(extraLine('y', result.extra)).to.equal('y: value 99, p99 2.50, baselineIs podman run')
      expect(extraLine('y', undefined)).to.equal(undefined)
      expect(formatReport(r)).to.match(/\(1 rounds\)$/)
    })
  })

  describe('measure', () => {
    const ctx = (warmup: number, rounds: number): BenchContext => ({ warmup, rounds, log: () => {}, signal: new AbortController().signal })

    it('runs the warm-up rounds and discards them', async () => {
      let calls = 0
      const samples = await measure(ctx(2, 3), async () => ++calls)
      expect(calls).to.equal(5)
      expect(samples).to.deep.equal([3, 4, 5])
    })

    it('alternates subject and baseline rounds', async () => {
      const order: string[] = []
      const out = await measurePair(ctx(1, 2), async () => { order.push('s'); return 1 }, async () => { order.push('b'); return 2 })
      expect(order.join('')).to.equal('sbsbsb')
      expect(out).to.deep.equal({ samples: [1, 1], baseline: [2, 2] })
    })

    it('stops when aborted', async () => {
      const abort = new AbortController()
      let calls = 0
      const err = await measure({ ...ctx(0, 10), signal: abort.signal }, async () => { if (++calls === 2) abort.abort() }).catch(e => e)
      expect(err).to.be.instanceOf(Error)
      expect(calls).to.equal(2)
    })
  })

  describe('run.js', () => {
    const RUN = join(REPO, 'dist', 'scripts', 'bench', 'run.js')

    it('an unknown benchmark name: one line naming the known ones, exit code 2', async () => {
      const r = await runNode([RUN, 'nosuch'])
      expect(r.code).to.equal(2)
      expect(r.stdout).to.equal('')
      const lines = r.stderr.split('\n').filter(l => l !== '')
      expect(lines).to.have.length(1)
      expect(lines[0]).to.match(/^bench: unknown benchmark "nosuch"; known: (?:[a-z0-9-]+, )*gossip-propagation(?:, [a-z0-9-]+)*$/)
    })

    it('an unknown name among known ones runs nothing', async () => {
      const r = await runNode([RUN, 'gossip-propagation', 'nosuch', '--json'])
      expect(r.code).to.equal(2)
      expect(r.stdout).to.equal('')
      expect(r.stderr).to.match(/^bench: unknown benchmark "nosuch"; known: /)
    })

    it('--list names every benchmark with its description', async () => {
      const r = await runNode([RUN, '--list'])
      expect(r.code).to.equal(0)
      expect(r.stdout).to.match(/^gossip-propagation +\S/m)
    })
  })
})

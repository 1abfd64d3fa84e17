import '../../node/shim.js'
import { Command, InvalidArgumentError } from 'commander'
import { EXIT_USAGE, parseScriptArgs } from '../lib/args.js'
import { benchmarks } from './index.js'
import { extraLine, formatReport, jsonLine, toReport } from './report.js'
import type { Benchmark, BenchContext } from './types.js'

/**
 * `npm run bench [-- NAME…] [--json]`: runs the named benchmarks (all without names) and
 * prints one line per result: medians of subject and baseline and their ratio, readable or,
 * with --json, one JSON object per line with exactly {name, unit, value, baseline, ratio,
 * rounds}. Progress, and with --json the results' extra figures, go to stderr.
 * Exit codes as the `aas` command: 0 ok, 1 a benchmark failed, 2 bad usage.
 */
const EXIT_FAILED = 1

function count (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number')
  return n
}

/** The benchmarks to run, in the order asked; an unknown name is a usage error. */
function select (all: Benchmark[], names: string[]): Benchmark[] | { unknown: string } {
  if (names.length === 0) return all
  const out: Benchmark[] = []
  for (const name of names) {
    const b = all.find(x => x.name === name)
    if (b == null) return { unknown: name }
    if (!out.includes(b)) out.push(b)
  }
  return out
}

async function main (argv: string[]): Promise<number> {
  const program = new Command('bench')
    .description(`run benchmarks: ${benchmarks.map(b => b.name).join(', ')}`)
    .argument('[names...]', 'benchmarks to run [default: all]')
    .option('--json', 'one JSON object per result per line on stdout')
    .option('--rounds <n>', 'measured rounds', count, 30)
    .option('--warmup <n>', 'warm-up rounds, not measured', count, 5)
    .option('--list', 'list the benchmarks and exit')
  const exit = parseScriptArgs(program, argv)
  if (exit != null) return exit
  const opts = program.opts<{ json?: boolean, rounds: number, warmup: number, list?: boolean }>()
  if (opts.list === true) {
    for (const b of benchmarks) process.stdout.write(`${b.name.padEnd(24)} ${b.description}\n`)
    return 0
  }
  const chosen = select(benchmarks, program.args)
  if (!Array.isArray(chosen)) {
    process.stderr.write(`bench: unknown benchmark "${chosen.unknown}"; known: ${benchmarks.map(b => b.name).join(', ')}\n`)
    return EXIT_USAGE
  }
  if (opts.rounds < 1) {
    process.stderr.write('bench: --rounds must be at least 1\n')
    return EXIT_USAGE
  }

  // Ctrl-C: benchmarks stop between rounds and clean up; a second Ctrl-C leaves at once.
  const abort = new AbortController()
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130)
    process.stderr.write('bench: interrupted, cleaning up (Ctrl-C again to leave now)\n')
    abort.abort()
  })
  const ctx: BenchContext = {
    warmup: opts.warmup,
    rounds: opts.rounds,
    log: (line) => { process.stderr.write(`${line}\n`) },
    signal: abort.signal
  }

  let code = 0
  for (const b of chosen) {
    if (abort.signal.aborted) return 130
    try {
      for (const result of await b.run(ctx)) {
        const report = toReport(result)
        if (opts.json !== true) {
          process.stdout.write(`${formatReport(report, result.extra)}\n`)
          continue
        }
        process.stdout.write(`${jsonLine(report)}\n`)
        const extra = extraLine(result.name, result.extra)
        if (extra != null) ctx.log(extra)
      }
    } catch (err: any) {
      if (abort.signal.aborted) return 130
      process.stderr.write(`bench: ${b.name} failed: ${String(err?.message ?? err).split('\n')[0]}\n`)
      code = EXIT_FAILED
    }
  }
  return code
}

// libp2p may hold sockets in their close handshake after the nodes stopped: leave explicitly.
main(process.argv).then(
  (code) => { process.exit(code) },
  (err) => { process.stderr.write(`bench: ${String(err?.stack ?? err)}\n`); process.exit(EXIT_FAILED) }
)

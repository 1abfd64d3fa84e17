import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { SandboxRunner, detectHost } from '../../skills/sandbox/index.js'
import { imageSpecs } from '../../skills/images/specs.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'

/**
 * sandbox-run: what one skill run costs through the runner (manifest load, schema checks,
 * temp dirs, a fully locked-down `podman run`, capped capture, OOM inspect, removal) against
 * (a) a bare `podman run --rm` of the same command in the same image, with only the flags
 * this host needs to start a container at all, and (b) a plain process spawn of the same
 * interpreter on the host. The three are alternated round by round.
 */
const SKILL = 'import json, sys\nprint(json.dumps({"echo": json.load(sys.stdin)}))\n'
const INPUT = { n: 1, text: 'hello' }

/** Runs an echo skill's command with `input` on stdin; resolves when it exited 0 with the echo. */
export async function run (cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += String(d) })
    child.stderr.on('data', (d) => { err += String(d) })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0 && out.includes('"echo"')) resolve()
      else reject(new Error(`${cmd} exited ${String(code)}: ${err.trim().split('\n').pop() ?? ''}`))
    })
    child.stdin.end(input)
  })
}

export const timed = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

const benchmark: Benchmark = {
  name: 'sandbox-run',
  description: 'per-run cost of the sandbox runner vs a bare podman run and vs a plain process spawn',
  async run (ctx: BenchContext): Promise<BenchResult[]> {
    const dir = await mkdtemp(join(tmpdir(), 'aas-bench-sbx-'))
    try {
      await chmod(dir, 0o755) // the bare run mounts it as is: the sandbox user must read it
      await writeFile(join(dir, 'main.py'), SKILL, { mode: 0o644 })
      await writeFile(join(dir, 'skill.json'), JSON.stringify({ name: 'bench-echo', version: '1.0.0', description: 'echo', runtime: 'python3', entrypoint: 'main.py' }))
      const runner = new SandboxRunner()
      await runner.start()
      const host = await detectHost()
      const probe = await runner.run(dir, INPUT)
      if (probe.status !== 'succeeded') throw new Error(`the runner cannot run the bench skill: ${probe.status} ${probe.error ?? ''}`)
      const image = probe.image
      const input = JSON.stringify(INPUT)
      const bare = ['--runtime', host.ociRuntime, 'run', '--rm', '-i', '--pull', 'never',
        '--ulimit', 'nofile=256:256', '--ulimit', 'nproc=1024:1024',
        '-v', `${dir}:/skill:ro`, image, ...imageSpecs.python3.command, '/skill/main.py']
      const plain = ['-I', '-B', join(dir, 'main.py')]
      // the system interpreter itself, not a version manager's shim script in PATH
      const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
      const runnerS: number[] = []
      const podmanS: number[] = []
      const spawnS: number[] = []
      for (let i = 0; i < ctx.warmup + ctx.rounds; i++) {
        if (ctx.signal.aborted) throw new Error('benchmark interrupted')
        const a = await timed(async () => {
          const r = await runner.run(dir, INPUT)
          if (r.status !== 'succeeded') throw new Error(`runner: ${r.status} ${r.error ?? ''}`)
        })
        const b = await timed(async () => { await run('podman', bare, input) })
        const c = await timed(async () => { await run(python, plain, input) })
        if (i >= ctx.warmup) { runnerS.push(a); podmanS.push(b); spawnS.push(c) }
      }
      ctx.log(`sandbox-run: ${ctx.rounds} rounds on ${image} with ${host.ociRuntime} (cgroup ${host.cgroupVersion}${host.rootless ? ', rootless' : ''})`)
      return [
        { name: 'sandbox-run-vs-podman', unit: 'ms', samples: runnerS, baseline: podmanS, extra: { baselineIs: 'bare podman run --rm' } },
        { name: 'sandbox-run-vs-spawn', unit: 'ms', samples: runnerS, baseline: spawnS, extra: { baselineIs: 'plain python3 spawn' } }
      ]
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export default benchmark

import { execFile } from 'node:child_process'
import { readdir, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { rmTree } from '../../skills/bundle/index.js'
import { cgroupMounts, SandboxRunner, type RunResult } from '../../skills/sandbox/index.js'
import { createMetrics } from '../../node/metrics.js'
import { sandboxRunMetrics } from '../../node/sandbox-metrics.js'
import { REPO, getJson, runCli, startCliNode, tempDir, waitFor, type CliNode } from '../utils/cli-node.js'

/**
 * What a sandbox run cost, as the node's /metrics tells it, against the kernel's own figures
 * for the same run: the cpu-burn fixture burns CPU with memory held, then reads its
 * container's cgroup from inside (cpuacct.usage, memory.max_usage_in_bytes on cgroup v1) and
 * prints it. The node's figures come from the run's parent cgroup after the container is gone;
 * they must agree within 10%. Then `promtool check metrics` on that busy node says nothing.
 */
const CPU_BURN = join(REPO, 'test', 'fixtures', 'skills', 'cpu-burn')

async function scrape (api: string): Promise<string> {
  return await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
}

/** One sample's value from Prometheus text, or undefined when the series is absent. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${series} `))
  return line == null ? undefined : Number(line.slice(series.length + 1))
}

describe('sandbox usage per run', function () {
  this.timeout(240_000)

  describe('on a node, through a task', () => {
    let tmp: { path: string, remove: () => Promise<void> }
    let node: CliNode | undefined

    before(async function () {
      tmp = await tempDir('aas-usage-')
      const keyFile = join(tmp.path, 'author.json')
      const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
      expect(k.code, k.stderr).to.equal(0)
      const author = JSON.parse(k.stdout).publicKey as string
      node = await startCliNode({ dataDir: join(tmp.path, 'node'), args: ['--slots', '1', '--trust-author', author], timeoutMs: 30_000 })
      const pub = await runCli(['skill', 'publish', CPU_BURN, '--key', keyFile, '--api', node.api, '--json'], { timeoutMs: 90_000 })
      expect(pub.code, pub.stderr).to.equal(0)
    })

    after(async function () {
      await node?.stop()
      if (tmp != null) await rmTree(tmp.path)
    })

    it('shows the CPU seconds and peak memory of a CPU-burning run within 10% of its cgroup', async () => {
      const api = node!.api
      const res = await fetch(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'cpu-burn', input: { cpuS: 2, mb: 150, report: true } }) })
      expect(res.status).to.equal(201)
      const { id } = await res.json() as { id: string }
      const task = await waitFor(async () => {
        const t = await getJson(`${api}/v1/tasks/${id}`)
        return ['succeeded', 'failed', 'cancelled'].includes(t.state) ? t : undefined
      }, 'the cpu-burn task to end', 180_000, 250)
      expect(task.state, JSON.stringify(task)).to.equal('succeeded')
      const kernel = task.output.cgroup as { cpuSeconds: number, memoryPeakBytes: number }
      expect(kernel.cpuSeconds).to.be.greaterThan(1.9)
      expect(kernel.memoryPeakBytes).to.be.greaterThan(150 * 1024 * 1024)

      const text = await scrape(api)
      const cpu = sample(text, 'aas_sandbox_cpu_seconds_total{skill="cpu-burn"}')
      const peak = sample(text, 'aas_sandbox_memory_peak_bytes_sum')
      // the publish gate's test case ran in the CLI's own runner: the node ran the task alone
      expect(sample(text, 'aas_sandbox_memory_peak_bytes_count')).to.equal(1)
      expect(cpu, 'aas_sandbox_cpu_seconds_total{skill="cpu-burn"}').to.be.a('number')
      expect(Math.abs(cpu! - kernel.cpuSeconds) / kernel.cpuSeconds, `metrics ${cpu} s vs cgroup ${kernel.cpuSeconds} s`).to.be.lessThan(0.1)
      expect(Math.abs(peak! - kernel.memoryPeakBytes) / kernel.memoryPeakBytes, `metrics ${peak} B vs cgroup ${kernel.memoryPeakBytes} B`).to.be.lessThan(0.1)
      expect(sample(text, 'aas_sandbox_runs_total{runtime="python3",status="succeeded"}')).to.equal(1)
    })

    it('passes `promtool check metrics` without a word once busy', async () => {
      const text = await scrape(node!.api)
      expect(text).to.match(/^libp2p_/m) // libp2p's own metrics are on the same registry
      expect(text).to.match(/^aas_sandbox_cpu_seconds_total/m)
      const check = await new Promise<{ code: number | null, out: string }>((resolve, reject) => {
        const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
          if (err != null && typeof (err as any).code !== 'number') { reject(err); return }
          resolve({ code: err == null ? 0 : (err as any).code, out: stdout + stderr })
        })
        child.stdin?.end(text)
      })
      expect(check.out).to.equal('')
      expect(check.code).to.equal(0)
    })
  })

  describe('the runner alone', () => {
    it('reports a killed run\'s usage and reason, counts it, and leaves no cgroup behind', async () => {
      const metrics = createMetrics({ defaults: false })
      // a cgroup parent of this test's own, so other runs on the host do not show in it
      const cgroupParent = `/aas-test-${process.pid}`
      const runner = new SandboxRunner({ cgroupParent }, { onRun: sandboxRunMetrics(metrics) })
      const r: RunResult = await runner.run(CPU_BURN, { cpuS: 30, mb: 0 }, { timeoutS: 2 })
      expect(r.status).to.equal('timeout')
      expect(r.kill).to.equal('timeout')
      expect(r.usage?.cpuSeconds).to.be.greaterThan(0)
      const text = await metrics.registry.metrics()
      expect(sample(text, 'aas_sandbox_kills_total{reason="timeout"}')).to.equal(1)
      expect(sample(text, 'aas_sandbox_runs_total{runtime="python3",status="timeout"}')).to.equal(1)
      expect(sample(text, 'aas_sandbox_cpu_seconds_total{skill="cpu-burn"}')).to.equal(r.usage!.cpuSeconds)
      const mounts = await cgroupMounts()
      expect(mounts, 'a cgroup hierarchy with cpu and memory accounting').to.not.equal(null)
      for (const root of mounts!.all) {
        const left = await readdir(join(root, cgroupParent), { withFileTypes: true }).catch(() => [])
        expect(left.filter(e => e.isDirectory()).map(e => e.name), root).to.deep.equal([])
        await rmdir(join(root, cgroupParent)).catch(() => {})
      }
    })
  })
})

import type { Manifest } from '../skills/manifest/index.js'
import type { RunResult } from '../skills/sandbox/index.js'
import type { Metrics } from './metrics.js'

/**
 * The runner's report of each sandbox run this node executed, as metrics: CPU seconds by
 * skill (a bounded label) and peak memory from the run's cgroup, runs by runtime and status,
 * kills by reason.
 */
export function sandboxRunMetrics (m: Metrics): (manifest: Manifest, result: RunResult) => void {
  return (manifest, result) => {
    m.sandboxRuns.inc({ runtime: manifest.runtime, status: result.status })
    if (result.kill != null) m.sandboxKills.inc({ reason: result.kill })
    if (result.usage == null) return
    m.sandboxCpuSeconds.inc({ skill: m.skillLabel(manifest.name) }, result.usage.cpuSeconds)
    if (result.usage.memoryPeakBytes != null) m.sandboxMemoryPeakBytes.observe(result.usage.memoryPeakBytes)
  }
}

import { expect } from 'chai'
import { cappedResources, runLimits } from '../../../../node/tasks/executor.js'
import { defaultSandboxOptions, effectiveLimits } from '../../../../skills/sandbox/options.js'

/**
 * What an origin asks for a run is a wish, never a command: a zero, negative or non-number
 * value is dropped (podman reads `--cpus 0` as "no limit"), and what is left is capped by the
 * manifest's own resources and this node's sandbox policy.
 */
describe('node/tasks: an offer\'s resources on the executor', () => {
  it('drops values that are not positive numbers', () => {
    expect(cappedResources({ cpus: 0, memoryMB: -5, pids: Number.NaN, timeoutS: Infinity })).to.deep.equal({})
    expect(cappedResources({ cpus: '2' as unknown as number, memoryMB: 128 })).to.deep.equal({ memoryMB: 128 })
    expect(cappedResources(undefined)).to.deep.equal({})
  })

  it('never lets cpus 0 through the sandbox policy either', () => {
    const limits = effectiveLimits(defaultSandboxOptions, { cpus: 0, memoryMB: 0 }, { cpus: -1 })
    expect(limits.cpus).to.equal(defaultSandboxOptions.defaults.cpus)
    expect(limits.memoryMB).to.equal(defaultSandboxOptions.defaults.memoryMB)
  })

  it('caps a huge wish by the policy\'s maximum', () => {
    const limits = effectiveLimits(defaultSandboxOptions, { memoryMB: 128 }, cappedResources({ cpus: 1024, memoryMB: 1_048_576, pids: 1_000_000, timeoutS: 86_400 }))
    expect(limits).to.deep.equal(defaultSandboxOptions.max)
  })

  it('caps the wish by the manifest too: an origin cannot give a skill more than it asks for', () => {
    const manifest = { memoryMB: 128, cpus: 1, pids: 16, timeoutS: 20 }
    expect(runLimits(defaultSandboxOptions, manifest, { memoryMB: 1_048_576, cpus: 0, pids: 100_000, timeoutS: 86_400 })).to.deep.equal(manifest)
    expect(runLimits(defaultSandboxOptions, manifest, { memoryMB: 64, cpus: 0.5, pids: 8, timeoutS: 5 })).to.deep.equal({ memoryMB: 64, cpus: 0.5, pids: 8, timeoutS: 5 })
    expect(runLimits(defaultSandboxOptions, undefined, undefined)).to.deep.equal(defaultSandboxOptions.defaults)
  })
})

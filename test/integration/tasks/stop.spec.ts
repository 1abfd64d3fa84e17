import { join } from 'node:path'
import { expect } from 'chai'
import { REPO, getJson, runCli, startCliNode, tempDir, waitFor, type CliNode } from '../../utils/cli-node.js'
import { sandboxContainers } from '../../utils/sandbox.js'

/**
 * A node stopped with SIGTERM while it runs a task removes the sandbox container it started
 * before it exits (a container left `Exited (137)` until the next start was the bug): the
 * executor aborts its runs and waits for each to clean up.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')

describe('a node stopped mid-run', function () {
  this.timeout(180_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let node: CliNode | undefined

  before(async function () {
    tmp = await tempDir('aas-stop-')
  })

  after(async function () {
    await node?.stop()
    await tmp?.remove()
  })

  it('removes its sandbox container before it exits on SIGTERM', async function () {
    const keyFile = join(tmp.path, 'author.key')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    node = await startCliNode({ args: ['--slots', '1', '--trust-author', JSON.parse(k.stdout).publicKey] })
    const pub = await runCli(['skill', 'publish', SLEEP, '--key', keyFile, '--api', node.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    const sub = await runCli(['task', 'submit', '--skill', 'sleep-echo', '--input', '{"ms":60000}', '--api', node.api, '--json'])
    expect(sub.code, sub.stderr).to.equal(0)
    const pid = node.process.pid!
    await waitFor(async () => (await sandboxContainers(pid)).length === 1, 'the task\'s sandbox container to run', 60_000, 100)
    expect((await getJson(`${node.api}/v1/memory`)).executor.busy).to.equal(1)

    const code = await node.stop()
    node = undefined
    expect(code, 'exit code after SIGTERM').to.equal(0)
    // in any state, running or exited: none is left
    expect(await sandboxContainers(pid, { all: true })).to.deep.equal([])
  })
})

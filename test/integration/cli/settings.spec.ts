import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { REPO, runCli, startCliNode, tempDir, type CliNode, type CliResult } from '../../utils/cli-node.js'

/**
 * One client-side way to name a node, and settings from `AAS_CONFIG` for every command that
 * reads them, through the real CLI against a real node: `AAS_API` as a URL or as HOST:PORT
 * works for `skill publish` (which also runs the skill's tests in the sandbox, where the API
 * setting once got in the way), `AAS_CONFIG` sets the limits of `skill run`, and a bad value
 * anywhere is one line and exit 2.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')

/** One line on stderr that starts with "aas: ", nothing on stdout, exit 2. */
function expectUsage (r: CliResult, pattern: RegExp, what: string): void {
  expect(r.code, `${what}: exit code (stderr: ${r.stderr})`).to.equal(2)
  expect(r.stderr.trim().split('\n'), `${what}: one line, got ${JSON.stringify(r.stderr)}`).to.have.length(1)
  expect(r.stderr, what).to.match(/^aas: /).and.match(pattern)
  expect(r.stdout, what).to.equal('')
}

describe('CLI: naming a node and reading settings', function () {
  this.timeout(240_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let node: CliNode
  let keyFile: string

  before(async function () {
    tmp = await tempDir('aas-cli-settings-')
    keyFile = join(tmp.path, 'author.key')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    node = await startCliNode({ args: ['--slots', '0', '--trust-author', JSON.parse(k.stdout).publicKey] })
  })

  after(async function () {
    await node?.stop()
    await tmp?.remove()
  })

  it('AAS_API as a URL and as HOST:PORT both reach the node for skill publish', async function () {
    const hostPort = new URL(node.api).host
    for (const [dir, api] of [[join(REPO, 'skills', 'examples', 'csv-clean'), node.api], [join(REPO, 'skills', 'examples', 'log-summary'), hostPort]]) {
      const r = await runCli(['skill', 'publish', dir, '--key', keyFile, '--json'], { env: { AAS_API: api }, timeoutMs: 120_000 })
      expect(r.code, `AAS_API=${api}: ${r.stderr}`).to.equal(0)
      // no peers: nothing was announced, and the CLI does not say it was
      expect(JSON.parse(r.stdout)).to.include({ announced: false })
    }
    const search = await runCli(['skill', 'search', '--json'], { env: { AAS_API: hostPort } })
    expect(search.code, search.stderr).to.equal(0)
    expect(JSON.parse(search.stdout).map((h: { name: string }) => h.name).sort()).to.deep.equal(['csv-clean', 'log-summary'])
  })

  it('AAS_CONFIG sets the sandbox limits of skill run, as --config does', async function () {
    const config = join(tmp.path, 'small.json')
    await writeFile(config, JSON.stringify({ sandbox: { max: { timeoutS: 7, memoryMB: 48 } } }))
    const run = async (env: Record<string, string>, args: string[] = []): Promise<{ timeoutS: number, memoryMB: number }> => {
      const r = await runCli(['skill', 'run', SLEEP, '--input', '{"ms":1}', '--json', ...args], { env, timeoutMs: 60_000 })
      expect(r.code, r.stderr).to.equal(0)
      return JSON.parse(r.stdout).limits
    }
    // the fixture asks for 60 s and 64 MB; the node's default caps allow both
    expect(await run({})).to.include({ timeoutS: 60, memoryMB: 64 })
    expect(await run({ AAS_CONFIG: config })).to.include({ timeoutS: 7, memoryMB: 48 })
    expect(await run({}, ['--config', config])).to.include({ timeoutS: 7, memoryMB: 48 })
    // a client's AAS_API is the node it talks to, not a listen address: it does not trouble run
    expect(await run({ AAS_CONFIG: config, AAS_API: 'http://127.0.0.1:7401/behind/a/proxy' })).to.include({ timeoutS: 7 })
  })

  it('bad usage or configuration is one line and exit 2', async function () {
    const bad = join(tmp.path, 'bad.json')
    await writeFile(bad, JSON.stringify({ logLevel: 'loud' }))
    expectUsage(await runCli(['skill', 'test', SLEEP], { env: { AAS_CONFIG: bad } }), /logLevel: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"/, 'skill test with a bad AAS_CONFIG')
    expectUsage(await runCli(['node', 'status', '--api', 'notaurl']), /--api: "notaurl" is not a URL or HOST:PORT/, 'node status --api notaurl')
    expectUsage(await runCli(['node', 'status'], { env: { AAS_API: 'ftp://x:1' } }), /AAS_API: "ftp:\/\/x:1" is not a URL or HOST:PORT/, 'AAS_API of another scheme')
    expectUsage(await runCli(['task', 'list', '--state', 'bogus', '--api', node.api]), /--state: "bogus" is not a task state/, 'task list --state bogus')
    expectUsage(await runCli(['task', 'cancel', 'x', '--node', node.addresses[0]]), /unknown option '--node'/, 'task cancel --node')
    expectUsage(await runCli(['task', 'nosuch']), /unknown command 'nosuch' \(see: aas task --help\)/, 'an unknown command')
  })

  it('node status finds the node through AAS_CONFIG\'s data dir', async function () {
    const config = join(tmp.path, 'where.json')
    await writeFile(config, JSON.stringify({ dataDir: node.dataDir }))
    const r = await runCli(['node', 'status', '--json'], { env: { AAS_CONFIG: config, HOME: tmp.path } })
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout).peerId).to.equal(node.peerId)
  })

  it('POST /v1/tasks refuses unknown fields, like every other input', async function () {
    const res = await fetch(`${node.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'csv-clean', input: {}, priority: 9 }), signal: AbortSignal.timeout(10_000) })
    expect(res.status).to.equal(400)
    expect(await res.json()).to.include({ code: 'ERR_USAGE' })
    const list = await (await fetch(`${node.api}/v1/tasks`, { signal: AbortSignal.timeout(10_000) })).json()
    expect(list).to.deep.equal([])
  })
})

import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { AAS_BIN, REPO, childEnv, getJson, tempDir, waitFor } from '../../utils/cli-node.js'

/**
 * docs/authoring.md is replayed: its `sh` blocks marked `<!-- replay -->` run in order, each
 * line through a real shell, from an empty HOME with `aas` being this checkout. `aas node
 * start` lines run in the background (a user's three terminals); their fixed ports become
 * free ones, and the guide's addresses are mapped onto the nodes that started. It ends with
 * the new skill published and run as a task with the output the guide promises.
 */
const GUIDE = join(REPO, 'docs', 'authoring.md')

function replayLines (text: string): string[] {
  const out: string[] = []
  for (const block of text.matchAll(/<!-- replay -->\n```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1].replace(/\\\n\s*/g, '').split('\n')) if (line.trim() !== '' && !line.startsWith('#')) out.push(line.trim())
  }
  return out
}

interface Shell { code: number | null, stdout: string, stderr: string }

describe('docs/authoring.md, replayed', function () {
  this.timeout(300_000)
  let home: { path: string, remove: () => Promise<void> }
  let env: NodeJS.ProcessEnv
  const nodes: ChildProcess[] = []
  /** The guide's `127.0.0.1:74x1` APIs and `tcp/74x0` ports → the started nodes' own. */
  const apis = new Map<string, string>()
  const addrs = new Map<string, string>()

  const sh = async (line: string): Promise<Shell> => await new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { env, cwd: home.path, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += String(d) })
    child.stderr.on('data', (d) => { stderr += String(d) })
    child.on('error', reject)
    child.on('close', (code) => { resolve({ code, stdout, stderr }) })
  })

  const localise = (line: string): string => line
    .replace(/127\.0\.0\.1:(74\d\d)\b/g, (m) => apis.get(m) ?? m)
    .replace(/\/ip4\/127\.0\.0\.1\/tcp\/(\d+)\/p2p\/\S+/g, (m, port: string) => addrs.get(port) ?? m)

  /** `aas node start …` in the background, on free ports; resolves with its `--json` line. */
  const startNode = async (line: string): Promise<void> => {
    const api = /--api (127\.0\.0\.1:\d+)/.exec(line)?.[1]
    const port = /--listen \/ip4\/127\.0\.0\.1\/tcp\/(\d+)/.exec(line)?.[1]
    expect(api, `${line}: names its API`).to.be.a('string')
    expect(port, `${line}: names its port`).to.be.a('string')
    const free = localise(line.replace(`--api ${api}`, '--api 127.0.0.1:0').replace(/(--listen \/ip4\/127\.0\.0\.1\/tcp\/)\d+/, '$10'))
    const child = spawn('bash', ['-c', `exec ${free} --json --log-level warn`], { env, cwd: home.path, stdio: ['ignore', 'pipe', 'pipe'] })
    nodes.push(child)
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += String(d) })
    const info = await new Promise<{ api: string, addresses: string[] }>((resolve, reject) => {
      let buf = ''
      child.stdout.on('data', (d) => {
        buf += String(d)
        const nl = buf.indexOf('\n')
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)))
      })
      child.once('exit', (code) => { reject(new Error(`${line}: exited ${String(code)}: ${stderr}`)) })
    })
    apis.set(api!, new URL(info.api).host)
    addrs.set(port!, info.addresses.find(a => a.includes('/p2p/'))!)
  }

  before(async function () {
    home = await tempDir('aas-guide-')
    // `aas` on the PATH is this checkout's CLI
    const bin = join(home.path, '.bin')
    await mkdir(bin)
    await writeFile(join(bin, 'aas'), `#!/bin/sh\nexec "${process.execPath}" "${AAS_BIN}" "$@"\n`)
    await chmod(join(bin, 'aas'), 0o755)
    env = childEnv({ HOME: home.path, PATH: `${bin}:${process.env.PATH ?? ''}` })
  })

  after(async function () {
    await Promise.all(nodes.map(async (n) => {
      if (n.exitCode != null || n.signalCode != null) return
      const exited = new Promise(resolve => n.once('exit', resolve))
      n.kill('SIGTERM')
      await exited
    }))
    await home?.remove()
  })

  it('gets a new skill from init to a task run on a 3-node mesh', async function () {
    const lines = replayLines(await readFile(GUIDE, 'utf8'))
    expect(lines.filter(l => l.startsWith('aas node start')), 'nodes the guide starts').to.have.length(3)
    expect(lines.some(l => l.startsWith('aas skill publish')), 'the guide publishes').to.equal(true)
    let last: Shell | undefined
    for (const line of lines) {
      if (line.startsWith('aas node start')) {
        await startNode(line)
        if (apis.size === 3) {
          // the user's terminals are up: wait until each node sees the other two
          for (const a of apis.values()) await waitFor(async () => (await getJson(`http://${a}/v1/node`)).peers?.length >= 2, `${a} to see its peers`, 60_000)
        }
        continue
      }
      if (line.startsWith('aas skill publish')) {
        last = await sh(localise(line))
        expect(last.code, `${line}\n${last.stderr}`).to.equal(0)
        // the release reaches every node by gossip or index sync: wait for it, then go on
        const name = line.split(/\s+/)[3]
        for (const a of apis.values()) await waitFor(async () => (await fetch(`http://${a}/v1/skills/${name}`)).ok, `${a} to index ${name}`, 60_000)
        continue
      }
      last = await sh(localise(line))
      expect(last.code, `${line}\n${last.stdout}\n${last.stderr}`).to.equal(0)
    }
    // the last command is the task: it succeeded with the output the guide shows
    expect(lines[lines.length - 1]).to.match(/^aas task submit .*--wait/)
    expect(last!.stdout).to.match(/ succeeded /)
    expect(last!.stdout).to.include('output   {"words":3}')
  })
})

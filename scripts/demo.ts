import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAuthorKey } from '../skills/keys.js'
import { AAS_BIN, ChildNode, REPO, childEnv, type ChildNodeInfo } from './lib/child-node.js'
import { bootstrapOf } from './lib/topology.js'
import { LocalTeam } from './lib/team.js'
import { loadCliKey } from '../node/cli/peer.js'

/**
 * `npm run demo`: the whole system on one machine. Starts a 3-node mesh on loopback (real
 * `aas node start` processes), makes an author key the nodes trust, publishes every example
 * skill (each passes its own tests in the sandbox first), submits a batch of tasks to all
 * three nodes, shows them spread over the nodes and finishing, then leaves the mesh running
 * with the exact commands to submit more. Ctrl-C stops everything and removes the temp dir.
 */
const NODES = 3
const ROUNDS = 4
const EXAMPLES = join(REPO, 'skills', 'examples')

const log = (line = ''): void => { process.stdout.write(line + '\n') }

async function aas (args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AAS_BIN, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += String(d) })
    child.stderr.on('data', (d) => { err += String(d) })
    child.on('close', (code) => { code === 0 ? resolve(out.trim()) : reject(new Error(`aas ${args.slice(0, 2).join(' ')}: ${err.trim().split('\n').pop() ?? `exit ${String(code)}`}`)) })
  })
}

async function api<T> (base: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await res.json() as T & { message?: string }
  if (!res.ok) throw new Error(`${path}: ${json.message ?? res.status}`)
  return json
}

async function main (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'aas-demo-'))
  const nodes: ChildNode[] = []
  let stopping = false
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true
      log('\nstopping the mesh…')
      await Promise.allSettled(nodes.map(async n => { await n.stop() }))
      await rm(root, { recursive: true, force: true })
    }
    process.exit(code)
  }
  process.on('SIGINT', () => { void stop(0) })
  process.on('SIGTERM', () => { void stop(0) })

  try {
    const keyFile = join(root, 'author.key')
    const author = await createAuthorKey(keyFile)
    log(`author key ${author.publicKey} (${keyFile})`)

    // one team, as "aas team init" and "aas team admit" make it: every node a member with every role
    const team = await LocalTeam.create(join(root, 'team'), 'demo')
    log(`team "demo" root key ${team.descriptor.rootKey} (${team.dir})`)
    // your CLI key (made if you have none) is admitted as a publisher, so "aas task submit --node" works too
    const cliCert = join(root, 'cli.cert')
    await team.admitKey((await loadCliKey()).publicKey.raw, cliCert, ['publisher'])
    const infos: ChildNodeInfo[] = []
    const dial: string[] = []
    for (let i = 0; i < NODES; i++) {
      const dataDir = join(root, `node-${i}`)
      const child = new ChildNode({
        dataDir, listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0',
        bootstrap: bootstrapOf(i).map(j => dial[j]), logLevel: 'warn', args: ['--trust-author', author.publicKey, '--slots', '2', ...await team.nodeArgs(dataDir)]
      })
      nodes.push(child)
      const info = await child.started()
      infos.push(info)
      dial.push(`${info.addresses.find(a => a.startsWith('/ip4/127.0.0.1/')) ?? info.addresses[0]}`)
      log(`node ${i}  ${info.peerId}  API ${info.api}`)
    }
    for (;;) {
      const peers = await Promise.all(infos.map(async i => (await api<{ peers: string[] }>(i.api, '/v1/node')).peers.length))
      if (peers.every(p => p >= NODES - 1)) break
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    log(`mesh of ${NODES} nodes formed\n`)

    const examples = (await readdir(EXAMPLES)).sort()
    const inputs: Array<{ skill: string, input: unknown }> = []
    for (const name of examples) {
      const out = JSON.parse(await aas(['skill', 'publish', join(EXAMPLES, name), '--key', keyFile, '--api', infos[0].api, '--json']))
      log(`published ${out.name}@${out.version}  ${out.cid}  (${out.tests} tests passed in the sandbox)`)
      const manifest = JSON.parse(await readFile(join(EXAMPLES, name, 'skill.json'), 'utf8'))
      for (const t of manifest.tests ?? []) inputs.push({ skill: `${name}@^${String(manifest.version).split('.')[0]}`, input: t.input })
    }

    const submitted: Array<{ id: string, origin: number, skill: string }> = []
    for (let r = 0; r < ROUNDS; r++) {
      for (const [k, t] of inputs.entries()) {
        const origin = (r * inputs.length + k) % NODES
        const { id } = await api<{ id: string }>(infos[origin].api, '/v1/tasks', t)
        submitted.push({ id, origin, skill: t.skill })
      }
    }
    log(`\nsubmitted ${submitted.length} tasks to the ${NODES} nodes (each node is the origin of its share)`)

    const started = Date.now()
    let done: Array<{ state: string, executor: string | null }> = []
    while (Date.now() - started < 180_000) {
      done = await Promise.all(submitted.map(async s => await api<{ state: string, executor: string | null }>(infos[s.origin].api, `/v1/tasks/${s.id}`)))
      const open = done.filter(d => d.state === 'offered' || d.state === 'assigned').length
      process.stdout.write(`\r  ${submitted.length - open} of ${submitted.length} finished  `)
      if (open === 0) break
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    log(`in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
    const byNode = infos.map((info, i) => ({ i, n: done.filter(d => d.executor === info.peerId && d.state === 'succeeded').length }))
    for (const { i, n } of byNode) log(`  node ${i} executed ${n} task(s)`)
    const failed = done.filter(d => d.state !== 'succeeded').length
    log(`  ${done.length - failed} succeeded, ${failed} did not\n`)

    const sample = inputs[0]
    log('The mesh keeps running. Try, in another terminal:')
    log(`  npx aas skill search --api ${infos[1].api}`)
    log(`  npx aas task submit --api ${infos[1].api} --skill ${sample.skill} --input '${JSON.stringify(sample.input).replace(/'/g, "'\\''")}' --wait`)
    log(`  npx aas task submit --node ${dial[2]} --cert ${cliCert} --skill log-summary --input '{"log":"ERROR disk full\\nINFO ok\\n"}' --wait --json`)
    log(`  npx aas task list --api ${infos[0].api}`)
    log(`  curl -s ${infos[0].api}/metrics | grep aas_task`)
    log('Stop it with Ctrl-C.')
    await new Promise(() => {}) // until a signal
  } catch (err: any) {
    process.stderr.write(`demo: ${String(err.message)}\n`)
    for (const [i, n] of nodes.entries()) if (!n.running) process.stderr.write(`node ${i} log:\n${n.lastLog(5)}\n`)
    await stop(1)
  }
}

await main()

import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { rmTree } from '../../../skills/bundle/index.js'
import { REPO, getJson, runCli, startCliNode, tempDir, waitFor, type CliNode, freePort } from '../../utils/cli-node.js'

/**
 * A real scrape: Debian's `prometheus` server on loopback, with a generated config scraping
 * three nodes of a running mesh that has run and cancelled tasks. Through Prometheus's HTTP
 * API: `up` is 1 for each node, and each node's tasks by state (`aas_tasks_finished_total`,
 * `aas_tasks_open`) are what the node itself lists under `GET /v1/tasks?state=`.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')
const STATES = ['succeeded', 'failed', 'cancelled', 'offered', 'assigned'] as const

async function submit (api: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
  const answer = await res.json() as { id?: string }
  if (res.status !== 201 || answer.id == null) throw new Error(`submit to ${api}: HTTP ${res.status} ${JSON.stringify(answer)}`)
  return answer.id
}

interface Sample { metric: Record<string, string>, value: [number, string] }

describe('a Prometheus server scraping a mesh', function () {
  this.timeout(240_000)
  let tmp: { path: string, remove: () => Promise<void> }
  const nodes: CliNode[] = []
  let prometheus: ChildProcess | undefined
  let promUrl: string
  let promLog = ''

  /** An instant query through Prometheus's HTTP API. */
  const query = async (q: string): Promise<Sample[]> => {
    const r = await getJson<{ status: string, data: { result: Sample[] } }>(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)
    expect(r.status, q).to.equal('success')
    return r.data.result
  }
  const instance = (n: CliNode): string => new URL(n.api).host

  before(async function () {
    tmp = await tempDir('aas-prom-')
    const keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    const author = JSON.parse(k.stdout).publicKey as string
    const args = ['--slots', '1', '--trust-author', author]
    const a = await startCliNode({ dataDir: join(tmp.path, 'a'), args, timeoutMs: 30_000 })
    nodes.push(a)
    nodes.push(...await Promise.all(['b', 'c'].map(async name => await startCliNode({ dataDir: join(tmp.path, name), bootstrap: [a.addresses[0]], args, timeoutMs: 30_000 }))))
    await waitFor(async () => {
      const counts = await Promise.all(nodes.map(async n => (await getJson(`${n.api}/v1/node`)).peers.length as number))
      if (counts.every(c => c >= 2)) return true
      await Promise.all(nodes.map(async n => await getJson(`${n.api}/v1/hello`, { method: 'POST' })))
      return false
    }, 'a full mesh of three nodes', 30_000, 500)

    const pub = await runCli(['skill', 'publish', SLEEP, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    for (const n of nodes) await waitFor(async () => (await getJson(`${n.api}/v1/skills/sleep-echo`)).name === 'sleep-echo', `sleep-echo in ${n.api}'s index`, 20_000, 200)

    // each node originates a different mix: i + 1 tasks that succeed, and on B one cancelled
    const ids: Array<[CliNode, string]> = []
    for (const [i, n] of nodes.entries()) {
      for (let j = 0; j <= i; j++) ids.push([n, await submit(n.api, { skill: 'sleep-echo', input: { ms: 10, tag: `${i}-${j}` } })])
    }
    const long = await submit(nodes[1].api, { skill: 'sleep-echo', input: { ms: 60_000 } })
    const cancel = await fetch(`${nodes[1].api}/v1/tasks/${long}/cancel`, { method: 'POST' })
    expect(cancel.status).to.equal(200)
    for (const [n, id] of ids) {
      await waitFor(async () => (await getJson(`${n.api}/v1/tasks/${id}`)).state === 'succeeded', `task ${id} to succeed`, 120_000, 250)
    }

    const port = await freePort()
    promUrl = `http://127.0.0.1:${port}`
    const config = join(tmp.path, 'prometheus.yml')
    await writeFile(config, [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: aas',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: [${nodes.map(n => `'${instance(n)}'`).join(', ')}]`,
      ''
    ].join('\n'))
    prometheus = spawn('prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${join(tmp.path, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    prometheus.stderr?.on('data', (d) => { promLog += String(d) })
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).ok, `prometheus ready (${promLog})`, 60_000, 200)
    // two scrapes of every node: the samples below are from nodes already at rest
    await waitFor(async () => {
      const counts = await query('count_over_time(up{job="aas"}[10m])')
      return counts.length === nodes.length && counts.every(s => Number(s.value[1]) >= 2)
    }, 'two scrapes of each node', 60_000, 250)
  })

  after(async function () {
    if (prometheus != null && prometheus.exitCode == null) {
      const exited = new Promise(resolve => prometheus!.once('exit', resolve))
      prometheus.kill('SIGTERM')
      await exited
    }
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
    if (tmp != null) await rmTree(tmp.path)
  })

  it('sees every node up', async () => {
    const up = await query('up{job="aas"}')
    expect(up.map(s => s.metric.instance).sort()).to.deep.equal(nodes.map(instance).sort())
    for (const s of up) expect(s.value[1], s.metric.instance).to.equal('1')
  })

  it('counts each node\'s tasks by state as the node lists them', async () => {
    const finished = await query('aas_tasks_finished_total{job="aas"}')
    const open = await query('aas_tasks_open{job="aas"}')
    for (const n of nodes) {
      for (const state of STATES) {
        const listed = (await getJson<unknown[]>(`${n.api}/v1/tasks?state=${state}&limit=10000`)).length
        const series = [...finished, ...open].filter(s => s.metric.instance === instance(n) && s.metric.state === state)
        const scraped = series.reduce((sum, s) => sum + Number(s.value[1]), 0)
        expect(scraped, `${state} tasks of ${instance(n)}`).to.equal(listed)
      }
    }
    // the mix is what was submitted: 1, 2, 3 succeeded, one cancelled on B
    const total = await query('sum by (state) (aas_tasks_finished_total{job="aas"})')
    const byState = Object.fromEntries(total.map(s => [s.metric.state, Number(s.value[1])]))
    expect(byState.succeeded).to.equal(6)
    expect(byState.cancelled).to.equal(1)
  })

  it('holds libp2p\'s own metrics beside AAS\'s for each node', async () => {
    const conns = await query('libp2p_connection_manager_connections{job="aas"}')
    expect(new Set(conns.map(s => s.metric.instance)).size).to.equal(nodes.length)
  })
})

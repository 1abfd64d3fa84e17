import { Command, Option } from 'commander'
import type { NodeInfo, PartialConfig } from '../../index.js'
import { apiRequest, resolveApiUrl } from '../api-client.js'
import { emit } from '../output.js'
import { isPublicKeyText } from '../../../protocol/keys.js'
import { UsageError } from '../../../protocol/errors.js'

/** How long a node may take to stop after SIGINT/SIGTERM before it exits anyway. */
const STOP_GRACE_MS = 4500

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** `--trust-author KEY`, checked where it is given. */
const collectAuthor = (value: string, previous: string[] = []): string[] => {
  if (!isPublicKeyText(value)) throw new UsageError(`--trust-author: "${value}" is not an author public key (z6Mk…, as "aas keys show" prints)`)
  return [...previous, value]
}

export function registerNode (program: Command): void {
  const node = program.command('node').description('run and inspect an AAS node')

  node.command('start')
    .description('start a node: join the mesh, serve the API, run until SIGINT/SIGTERM')
    .option('--data <dir>', 'data directory (identity, database, blobs) [default: ~/.aas, env AAS_DATA]')
    .option('--config <file>', 'JSON config file [env AAS_CONFIG]')
    .option('--listen <multiaddr>', 'libp2p listen address, repeatable [default: /ip4/0.0.0.0/tcp/7400, env AAS_LISTEN]', collect)
    .option('--bootstrap <multiaddr>', 'peer to join the mesh through, repeatable [env AAS_BOOTSTRAP]', collect)
    .option('--api <host:port>', 'HTTP API address [default: 127.0.0.1:7401, env AAS_API]')
    .option('--slots <n>', 'tasks this node executes at once; 0 = only originate [default: CPU count]', (v: string) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 0 || n > 1024) throw new UsageError(`--slots: "${v}" is not a whole number from 0 to 1024`)
      return n
    })
    .option('--trust-author <key>', 'trust skill releases signed by this author key, repeatable (adds to trust.authors) [env AAS_TRUST_AUTHORS]', collectAuthor)
    .option('--team <file>', "the team's descriptor, team.json (config team.descriptor) [env AAS_TEAM]; without one the node is a team of one")
    .option('--cert <file>', "this node's membership certificate (config team.certificate) [env AAS_CERT]")
    .addOption(new Option('--log-level <level>', 'log level [default: info, env AAS_LOG_LEVEL]').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--json', 'print the started node as one JSON line')
    .action(async (opts) => {
      const flags: PartialConfig = {}
      if (opts.data != null) flags.dataDir = opts.data
      if (opts.listen != null) flags.listen = opts.listen
      if (opts.bootstrap != null) flags.bootstrap = opts.bootstrap
      if (opts.api != null) flags.api = opts.api
      if (opts.logLevel != null) flags.logLevel = opts.logLevel
      if (opts.slots != null) flags.tasks = { slots: opts.slots }
      if (opts.team != null || opts.cert != null) flags.team = { ...(opts.team != null ? { descriptor: opts.team } : {}), ...(opts.cert != null ? { certificate: opts.cert } : {}) }
      // loaded on use: `aas --help` and the other commands need not load libp2p
      const { AasNode, resolveConfig } = await import('../../index.js')
      const config = await resolveConfig({ file: opts.config ?? process.env.AAS_CONFIG, env: process.env, flags })
      config.trust.authors = [...new Set([...config.trust.authors, ...(opts.trustAuthor ?? [])])]
      const aas = new AasNode({ config })
      // signals are caught from the start: one during start-up stops the node once it is up
      // (a half-started node is never left by a default SIGTERM exit); a second one leaves at once
      let received: string | undefined
      let onSignal = (signal: string): void => { received = signal }
      const handler = (signal: string): void => {
        if (stopping) process.exit(0)
        onSignal(signal)
      }
      let stopping = false
      process.on('SIGINT', handler)
      process.on('SIGTERM', handler)
      const runtime = await aas.start()
      emit(opts.json === true, runtime, () => [
        `AAS node ${runtime.peerId} started`,
        ...runtime.addresses.map(a => `  listening ${a}`),
        `  API ${runtime.api}  (metrics: ${runtime.api}/metrics)`,
        aas.teamInfo != null
          ? `  team "${aas.teamInfo.name}" as ${aas.teamInfo.roles.join(', ')} until ${aas.teamInfo.expires}`
          : '  no team: a team of one, which accepts nothing from peers (join one with --team and --cert)',
        '  stop with Ctrl-C'
      ].join('\n'))
      await new Promise<void>((resolve) => {
        onSignal = (signal: string): void => {
          stopping = true
          aas.log.info({ signal }, 'stopping')
          const force = setTimeout(() => { process.exit(0) }, STOP_GRACE_MS)
          force.unref()
          // a close step that fails is logged, never an unhandled rejection (exit 1)
          aas.stop().catch((err) => { aas.log.warn({ err }, 'stop: a close step failed') }).finally(resolve)
        }
        if (received != null) onSignal(received)
      })
      // libp2p may keep sockets in their close handshake; the node is stopped, so leave now.
      process.exit(0)
    })

  node.command('id')
    .description("print this node's peer id (what \"aas team admit\" certifies), making its identity if the data dir has none")
    .option('--data <dir>', 'data directory [default: ~/.aas, env AAS_DATA]')
    .option('--json', 'print {"peerId", "publicKey"} as JSON')
    .action(async (opts) => {
      const { homedir } = await import('node:os')
      const { join, resolve } = await import('node:path')
      const { prepareDataDir } = await import('../../fs-util.js')
      const { loadOrCreateIdentity } = await import('../../identity.js')
      const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
      const { publicKeyText } = await import('../../../protocol/keys.js')
      const dir = resolve(opts.data ?? process.env.AAS_DATA ?? join(homedir(), '.aas'))
      await prepareDataDir(dir)
      const key = await loadOrCreateIdentity(dir)
      const out = { peerId: peerIdFromPrivateKey(key).toString(), publicKey: publicKeyText(key.publicKey.raw) }
      emit(opts.json === true, out, () => out.peerId)
    })

  node.command('status')
    .description("show a running node's peer id, addresses, peers and topics")
    .option('--api <url>', 'API of the node [default: the node on --data, env AAS_API]')
    .option('--data <dir>', 'data directory of the local node [default: ~/.aas]')
    .option('--json', 'print the node info as JSON')
    .action(async (opts) => {
      const url = await resolveApiUrl(opts)
      const info = await apiRequest<NodeInfo>(url, '/v1/node')
      const memory = await apiRequest<{ skills: Array<{ skill: string, successes: number, failures: number, inputs: number, meanMs: number }>, executor: { slots: number, busy: number } }>(url, '/v1/memory')
      const runs = memory.skills.reduce((n, s) => n + s.successes + s.failures, 0)
      const ok = memory.skills.reduce((n, s) => n + s.successes, 0)
      emit(opts.json === true, { ...info, memory }, () => [
        `peer id   ${info.peerId}`,
        `version   ${info.version}   uptime ${info.uptimeS} s`,
        `addresses ${info.addresses.join('\n          ') || '(none)'}`,
        `peers     ${info.peers.length}${info.peers.length > 0 ? '\n          ' + info.peers.join('\n          ') : ''}`,
        `known     ${info.knownPeers} node(s) heard through gossip`,
        `topics    ${info.topics.join(', ') || '(none)'}`,
        `executor  ${memory.executor.busy} of ${memory.executor.slots} slot(s) busy`,
        `memory    ${runs} run(s) of ${memory.skills.length} skill release(s) recorded, ${ok} succeeded${memory.skills.length > 0 ? '\n' + memory.skills.map(m => `          ${m.skill.slice(0, 16)}…  ${m.successes} ok, ${m.failures} failed, ${m.inputs} input(s), mean ${m.meanMs} ms`).join('\n') : ''}`
      ].join('\n'))
    })
}

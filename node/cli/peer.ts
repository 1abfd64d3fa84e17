import { mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { AasError, UsageError } from '../../protocol/errors.js'
import { writeFileAtomic } from '../fs-util.js'
import { rpcCall } from '../p2p/rpc.js'

/**
 * A CLI peer: a small libp2p host (TCP, noise, yamux; no gossip, no listening) with its own
 * ed25519 key, kept 0600 in `~/.config/aas/cli.key` (or `AAS_CLI_KEY`). It dials one node and
 * talks to it over the task stream protocols; what it sends is signed with its key, so the
 * node knows which peer submitted a task.
 */
export function cliKeyPath (env: NodeJS.ProcessEnv = process.env): string {
  return env.AAS_CLI_KEY ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'aas', 'cli.key')
}

export async function loadCliKey (path = cliKeyPath()): Promise<PrivateKey> {
  try {
    return privateKeyFromProtobuf(await readFile(path))
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw new UsageError(`CLI key ${path} is unreadable or not a key (${String(err.code ?? err.message)}): move it away to make a new one`)
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
  return key
}

/**
 * The CLI peer's membership certificate: `--cert FILE`, else `AAS_CLI_CERT`, else `cli.cert`
 * beside the CLI key when there is one (none: a node with a team will refuse the requests).
 */
export async function cliCertificate (file?: string, env: NodeJS.ProcessEnv = process.env): Promise<Uint8Array | undefined> {
  const given = file ?? (env.AAS_CLI_CERT !== '' ? env.AAS_CLI_CERT : undefined)
  const path = given ?? join(dirname(cliKeyPath(env)), 'cli.cert')
  const { readCertificate } = await import('../team/files.js')
  try {
    return (await readCertificate(path)).bytes
  } catch (err: any) {
    if (given == null && /ENOENT/.test(String(err.message))) return undefined
    throw err
  }
}

export class CliPeer {
  private constructor (readonly host: Libp2p, readonly key: PrivateKey, private readonly target: string) {}

  static async connect (nodeAddr: string): Promise<CliPeer> {
    let ma
    try {
      ma = multiaddr(nodeAddr)
    } catch {
      throw new UsageError(`--node: "${nodeAddr}" is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/7400/p2p/12D3Koo…)`)
    }
    if (ma.getPeerId() == null) throw new UsageError(`--node: ${nodeAddr} lacks /p2p/<peer id>; "aas node status" prints the full address`)
    const key = await loadCliKey()
    const host = await createLibp2p({ privateKey: key, addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    return new CliPeer(host, key, nodeAddr)
  }

  async call (protocol: string, request: Uint8Array, maxResponseBytes = 4 * 1024 * 1024): Promise<Uint8Array> {
    try {
      return await rpcCall(this.host, [multiaddr(this.target)], protocol, request, { maxResponseBytes, timeoutMs: 15_000 })
    } catch (err: any) {
      throw new AasError(`cannot reach the node at ${this.target}: ${String(err.message)}`, 'ERR_NODE_UNREACHABLE')
    }
  }

  async close (): Promise<void> {
    await this.host.stop()
  }
}

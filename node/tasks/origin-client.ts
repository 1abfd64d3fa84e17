import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { decodeCanonical, taskClaim, taskLease, taskResult, type TaskClaimBody, type TaskResultBody } from '../../protocol/index.js'
import type { Host } from '../p2p/host.js'
import { rpcCall } from '../p2p/rpc.js'
import type { MeshKeeper } from '../mesh/index.js'
import type { Signer } from '../signer.js'
import type { ClaimAnswer, RenewAnswer, ResultAnswer } from './origin/index.js'
import { ORIGIN_WIRE, type OriginEndpoint, type OriginRequest } from './wire.js'

/**
 * The executor's one way to any origin, its own node's included: every bid, renewal and result
 * is a signed envelope, checked by the origin's endpoint. A remote origin is reached over a
 * stream; the local one is handed the same bytes without the socket.
 */
export interface OriginClientComponents {
  self: string
  signer: Pick<Signer, 'seal'>
  host: Pick<Host, 'getConnections' | 'dialProtocol'>
  mesh: Pick<MeshKeeper, 'addressesOf'>
  local: Pick<OriginEndpoint, 'handle'>
}

export interface OriginClientOptions {
  timeoutMs: number
  maxResponseBytes: number
}

export const defaultOriginClientOptions: OriginClientOptions = { timeoutMs: 10_000, maxResponseBytes: 4 * 1024 * 1024 }

export class OriginClient {
  private readonly opts: OriginClientOptions

  constructor (private readonly c: OriginClientComponents, opts: Partial<OriginClientOptions> = {}) {
    this.opts = { ...defaultOriginClientOptions, ...opts }
  }

  async claim (origin: string, bid: TaskClaimBody): Promise<ClaimAnswer> {
    return await this.call('claim', origin, await this.c.signer.seal(taskClaim, bid)) as ClaimAnswer
  }

  async renew (origin: string, taskId: string, attempt: number, timeoutMs?: number): Promise<RenewAnswer> {
    return await this.call('lease', origin, await this.c.signer.seal(taskLease, { taskId, attempt }), timeoutMs) as RenewAnswer
  }

  /** A result sealed once, so it can be kept and delivered again unchanged. */
  async sealResult (result: TaskResultBody): Promise<Uint8Array> {
    return await this.c.signer.seal(taskResult, result)
  }

  async deliver (origin: string, envelope: Uint8Array): Promise<ResultAnswer> {
    return await this.call('result', origin, envelope) as ResultAnswer
  }

  private async call (kind: OriginRequest, origin: string, envelope: Uint8Array, timeoutMs = this.opts.timeoutMs): Promise<unknown> {
    if (origin === this.c.self) {
      // the same answer a stream would carry: plain data
      return JSON.parse(JSON.stringify(await this.c.local.handle(kind, envelope, this.c.self)))
    }
    const res = await rpcCall(this.c.host as Host, this.target(origin), ORIGIN_WIRE[kind].protocol, envelope, { maxResponseBytes: this.opts.maxResponseBytes, timeoutMs })
    return decodeCanonical(res)
  }

  private target (peer: string): PeerId | Multiaddr[] {
    if (this.c.host.getConnections(peerIdFromString(peer)).length > 0) return peerIdFromString(peer)
    const addrs = this.c.mesh.addressesOf(peer)
    return addrs.length > 0 ? addrs : peerIdFromString(peer)
  }
}

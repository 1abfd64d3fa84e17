import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { encodeCanonical, Protocols } from '../../../../protocol/index.js'
import { bundleCid } from '../../../../skills/bundle/index.js'
import { BundleFetcher, BundleServer, FetchError, FetchErrorCode, FRAME_BYTES, type FetchRequest } from '../../../../skills/fetch/index.js'
import { BlobStore } from '../../../../skills/store/index.js'
import { refusal } from '../../../utils/refusal.js'
import { LoopbackHost, type LoopbackStream } from './loopback.js'

/**
 * `/aas/bundle/1.0.0` between a BundleServer and a BundleFetcher over an in-memory host, with
 * real blob stores on disk. A provider that misbehaves is dropped with a FetchError whose code
 * names the failure, and the fetcher keeps nothing but verified blobs (no temp file left).
 */
const frame = (bytes: Uint8Array): Uint8Array => lp.encode.single(bytes).subarray()
const header = (v: unknown): Uint8Array => frame(encodeCanonical(v))

function frames (bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += FRAME_BYTES) out.push(frame(bytes.subarray(at, at + FRAME_BYTES)))
  return out
}

describe('skills/fetch: the bundle protocol', function () {
  let dir: string
  let served: BlobStore
  let fetched: BlobStore
  let host: LoopbackHost
  let peer: PeerId
  const bytes = randomBytes(100_000)
  const cid = bundleCid(bytes).toString()

  before(async () => {
    peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  })

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aas-fetch-'))
    served = new BlobStore(join(dir, 'served'))
    fetched = new BlobStore(join(dir, 'fetched'))
    await served.open()
    await fetched.open()
    await served.put(cid, bytes)
    host = new LoopbackHost()
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** A provider that reads the request and answers with `reply`'s frames. */
  async function provider (reply: (closed: AbortSignal) => AsyncIterable<Uint8Array>): Promise<void> {
    await host.handle(Protocols.bundle, ({ stream }) => {
      void (async () => {
        const it = lp.decode(stream.source)[Symbol.asyncIterator]()
        await it.next()
        await stream.sink(reply((stream as LoopbackStream).closed))
      })().catch(() => {})
    })
  }

  const until = async (signal: AbortSignal): Promise<void> => {
    if (!signal.aborted) await new Promise(resolve => { signal.addEventListener('abort', resolve, { once: true }) })
  }

  async function expectNothingKept (): Promise<void> {
    expect(await fetched.has(cid)).to.equal(false)
    expect(await readdir(join(dir, 'fetched', 'blobs', '.tmp'))).to.deep.equal([])
  }

  async function failure (req: Partial<FetchRequest> = {}, options = {}): Promise<any> {
    const fetcher = new BundleFetcher({ host, blobs: fetched }, options)
    const err = await refusal(fetcher.fetchFrom(peer, cid, { size: bytes.length, ...req }))
    await expectNothingKept()
    return err
  }

  it('serves a stored bundle that the fetcher verifies and keeps; stop() stops serving', async () => {
    const servedSizes: number[] = []
    const server = new BundleServer({ host, blobs: served }, { onServed: (n) => { servedSizes.push(n) } })
    await server.start()
    const progress: number[] = []
    const fetcher = new BundleFetcher({ host, blobs: fetched })
    expect(await fetcher.fetchFrom(peer, cid, { size: bytes.length, onProgress: (p) => { progress.push(p.bytes) } })).to.equal(bytes.length)
    expect(Buffer.from(await fetched.get(cid)).equals(bytes)).to.equal(true)
    expect(progress[progress.length - 1]).to.equal(bytes.length)
    expect(servedSizes).to.deep.equal([bytes.length])
    await server.stop()
    expect(host.handlers.has(Protocols.bundle)).to.equal(false)
  })

  it('NOT_FOUND: the provider does not hold the CID', async () => {
    await new BundleServer({ host, blobs: fetched }).start()
    const err = await failure()
    expect([err.name, err.code]).to.deep.equal(['FetchError', FetchErrorCode.NOT_FOUND])
  })

  const cases: Array<{ code: FetchErrorCode, why: string, reply: (closed: AbortSignal) => AsyncIterable<Uint8Array>, req?: Partial<FetchRequest>, options?: object }> = [
    { code: FetchErrorCode.NO_ANSWER, why: 'the stream ends before a header', reply: async function * () {} },
    { code: FetchErrorCode.WRONG_SIZE, why: 'the header names another size', reply: async function * () { yield header({ ok: true, size: bytes.length + 1 }) } },
    {
      code: FetchErrorCode.TRUNCATED,
      why: 'the stream ends early',
      reply: async function * () { yield header({ ok: true, size: bytes.length }); yield * frames(bytes.subarray(0, bytes.length - 10)) }
    },
    {
      code: FetchErrorCode.HASH_MISMATCH,
      why: 'the bytes do not hash to the CID',
      reply: async function * () { const bad = Buffer.from(bytes); bad[5] ^= 0xff; yield header({ ok: true, size: bytes.length }); yield * frames(bad) }
    },
    {
      code: FetchErrorCode.OVERSIZE,
      why: 'a frame is over the frame limit',
      reply: async function * () { yield header({ ok: true, size: bytes.length }); yield frame(randomBytes(FRAME_BYTES + 1)) }
    },
    {
      code: FetchErrorCode.OVERSIZE,
      why: 'more bytes than the release says',
      reply: async function * () { yield header({ ok: true, size: bytes.length }); yield frame(bytes.subarray(0, 1000)); yield * frames(bytes) }
    },
    {
      code: FetchErrorCode.STALL,
      why: 'nothing arrives for stallMs',
      reply: async function * (closed) { yield header({ ok: true, size: bytes.length }); await until(closed) },
      options: { stallMs: 50 }
    },
    {
      code: FetchErrorCode.TIMEOUT,
      why: 'empty frames past timeoutMs',
      reply: async function * (closed) {
        yield header({ ok: true, size: bytes.length })
        while (!closed.aborted) { yield frame(new Uint8Array(0)); await new Promise(resolve => setTimeout(resolve, 5)) }
      },
      options: { timeoutMs: 100, stallMs: 10_000 }
    }
  ]

  for (const { code, why, reply, req, options } of cases) {
    it(`${code}: ${why}`, async () => {
      await provider(reply)
      const err = await failure(req, options)
      expect([err.name, err.code]).to.deep.equal(['FetchError', code])
    })
  }

  it('CANCELLED: the caller aborts mid-transfer', async () => {
    await provider(async function * (closed) { yield header({ ok: true, size: bytes.length }); yield frames(bytes)[0]; await until(closed) })
    const cancel = new AbortController()
    const err = await failure({ signal: cancel.signal, onProgress: () => { cancel.abort() } })
    expect([err.name, err.code]).to.deep.equal(['FetchError', FetchErrorCode.CANCELLED])
  })

  it('passes on a transport failure as it is (the caller counts it as an error)', async () => {
    const reset = Object.assign(new Error('stream reset'), { name: 'StreamResetError' })
    await host.handle(Protocols.bundle, ({ stream }) => { stream.abort(reset) })
    const err = await failure()
    expect(err.name).to.equal('StreamResetError')
  })

  it('gives FetchError a stable name, its code and the attempts', () => {
    const attempts = [{ peer: 'p', ok: false, reason: 'timeout: x', bytes: 0 }]
    const err = new FetchError('could not fetch', FetchErrorCode.FAILED, { attempts })
    expect([err.name, err.code, err.attempts]).to.deep.equal(['FetchError', 'ERR_FETCH_FAILED', attempts])
    expect(err).to.be.instanceOf(Error)
  })
})

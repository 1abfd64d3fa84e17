import { expect } from 'chai'
import { fastMessageId } from '../../../../node/p2p/host.js'

/**
 * The key gossipsub's duplicate check uses before the signature check (node/p2p/host.ts): the
 * same author and seqno are one message whatever else the copy carries (gossipsub's own id
 * under StrictSign), another author or seqno is another message, and a copy without them (which
 * StrictSign refuses) never matches anything.
 */
describe('node/p2p: gossip duplicate key', function () {
  const from = new Uint8Array([0, 36, 8, 1, 18, 32, ...new Array(32).fill(7)])
  const seqno = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 42])

  it('is the same for two copies of one message (same author and seqno), whatever their data', () => {
    const a = fastMessageId({ from, seqno, data: new Uint8Array([1]) } as any)
    const b = fastMessageId({ from: from.slice(), seqno: seqno.slice(), data: new Uint8Array([2]) } as any)
    expect(a).to.equal(b)
  })

  it('differs for another seqno or another author', () => {
    const a = fastMessageId({ from, seqno })
    expect(fastMessageId({ from, seqno: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 43]) })).to.not.equal(a)
    const other = from.slice(); other[other.length - 1] = 8
    expect(fastMessageId({ from: other, seqno })).to.not.equal(a)
  })

  it('never repeats for a copy without author or seqno, so such copies are never taken for a duplicate', () => {
    const ids = [fastMessageId({ seqno }), fastMessageId({ seqno }), fastMessageId({ from }), fastMessageId({})]
    expect(new Set(ids).size).to.equal(ids.length)
    expect(ids).to.not.include(fastMessageId({ from, seqno }))
  })
})

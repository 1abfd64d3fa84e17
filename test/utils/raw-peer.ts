import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import type { PrivateKey, PubSub } from '@libp2p/interface'

/**
 * A raw libp2p peer that is not an AAS node: the same transports and gossipsub, none of the
 * node's validation, so a test can make it publish or serve whatever it likes.
 */
export type RawPeer = Libp2p<{ pubsub: PubSub }>

export async function createRawPeer (privateKey: PrivateKey): Promise<RawPeer> {
  return await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, heartbeatInterval: 500 }) as any }
  }) as unknown as RawPeer
}

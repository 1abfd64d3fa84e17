#!/usr/bin/env -S node --max-semi-space-size=2
// The `aas` command. The TypeScript sources are compiled to dist/ by `npm install`
// (the "prepare" script) or `npm run build`. A node is long-running and its objects are
// short-lived messages: a 2 MiB young generation instead of V8's 16 MiB keeps an idle node
// near 83 MB resident instead of ~117 MB (measured), for a few more cheap scavenges.
import '../dist/node/shim.js'
import { main } from '../dist/node/cli/main.js'

process.exitCode = await main(process.argv)

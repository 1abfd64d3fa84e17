#!/usr/bin/env node
// The `aas` command. The TypeScript sources are compiled to dist/ by `npm install`
// (the "prepare" script) or `npm run build`.
import '../dist/node/shim.js'
import { main } from '../dist/node/cli/main.js'

process.exitCode = await main(process.argv)

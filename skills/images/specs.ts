import type { Runtime } from '../manifest/index.js'

/**
 * What goes into each runtime image: Debian packages (their dependency closure, minus what a
 * skill never needs at run time), symlinks that maintainer scripts would have made, and the
 * command that runs an entrypoint. Changing a spec changes `RECIPE_VERSION`, so the image
 * tag (derived from the recipe and the exact package files) changes too.
 */
export const RECIPE_VERSION = 2

export interface RuntimeImageSpec {
  runtime: Runtime
  /** Packages whose dependency closure makes the image. */
  roots: string[]
  /** Packages of the closure left out (interpreters and tools pulled in only by maintainer scripts). */
  exclude: RegExp[]
  /** [path in the image, link target] */
  links: Array<[string, string]>
  /** argv prefix; the entrypoint's path is appended. */
  command: string[]
  /** Interpreter flags that follow the memory limit (so V8 fails cleanly before the cgroup kills it). */
  memoryArgs?: (memoryMB: number) => string[]
}

const notAtRunTime = [/^perl/, /^libperl/, /^dpkg$/, /^install-info$/, /^debconf/, /^cdebconf/, /^libdebian-installer/, /^tar$/, /^readline-common$/, /^mailcap$/, /^mime-support$/, /^ca-certificates$/, /^openssl$/, /^libnewt/, /^libslang/, /^libtextwrap/]

export const imageSpecs: Record<Runtime, RuntimeImageSpec> = {
  sh: {
    runtime: 'sh',
    roots: ['dash', 'coreutils'],
    exclude: notAtRunTime,
    links: [['bin/sh', 'dash']],
    command: ['/bin/sh']
  },
  python3: {
    runtime: 'python3',
    roots: ['dash', 'python3-minimal', 'python3.11', 'libpython3.11-stdlib'],
    exclude: notAtRunTime,
    links: [['bin/sh', 'dash'], ['usr/bin/python3', 'python3.11']],
    command: ['/usr/bin/python3', '-I', '-B']
  },
  node: {
    runtime: 'node',
    roots: ['dash', 'nodejs'],
    exclude: [...notAtRunTime, /^python3/, /^libpython/],
    links: [['bin/sh', 'dash']],
    command: ['/usr/bin/node'],
    memoryArgs: (mb) => [`--max-old-space-size=${Math.max(16, Math.floor(mb * 0.75))}`]
  }
}

/** The image name of a runtime; the build tags it `:<content hash>` and `:latest`. */
export function imageName (runtime: Runtime): string {
  return `localhost/aas-runtime-${runtime}`
}

import { access, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { REPO } from './cli-node.js'

/**
 * Real Chromium for page tests: Debian's `chromium` package (scripts/setup.sh installs it),
 * driven by playwright-core, which downloads no browser of its own. As root Chromium's own
 * sandbox cannot start, so it runs without (the page under test is our own).
 */
export const CHROMIUM = '/usr/bin/chromium'

/** Where tests keep what a person would want to look at afterwards (git-ignored). */
export const ARTIFACTS = join(REPO, 'test-artifacts')

export async function launchChromium (): Promise<Browser> {
  try {
    await access(CHROMIUM)
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup.sh (it installs Debian's chromium package)`)
  }
  return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] })
}

export async function artifactDir (name: string): Promise<string> {
  const dir = join(ARTIFACTS, name)
  await mkdir(dir, { recursive: true })
  return dir
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** Whether a file is a PNG with more than its signature in it. */
export async function isPng (path: string): Promise<boolean> {
  const bytes = await readFile(path)
  return bytes.length > PNG_SIGNATURE.length + 100 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)
}

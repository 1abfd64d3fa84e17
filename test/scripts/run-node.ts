import { spawn } from 'node:child_process'
import { childEnv, REPO } from '../utils/cli-node.js'

/** Runs a compiled script (`node FILE ARGS…`) to completion; the scripts' tests share it. */
export { REPO }

export interface NodeRun { code: number | null, stdout: string, stderr: string }

export async function runNode (args: string[], timeoutMs = 30_000): Promise<NodeRun> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += String(d) })
    child.stderr.on('data', (d) => { stderr += String(d) })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

// The plugins quantize several models at once, and each model's accuracy target may rank its
// weights on worker threads of its own: the pool hands each model its share of the cores, so a
// build does not start cores x 4 scoring sessions. A user's `threads` wins.
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { rankingThreadShare } from '../plugins/core/thread-share.js'
import { WorkerPool, type PoolJob } from '../plugins/core/worker-pool.js'
import { cfgFromObject } from '../src/cfg/index.js'

// A stand-in for quantize-worker.ts that answers each job, after a pause (so jobs overlap), with
// the options the pool sent it in place of a quantized model.
const ECHO = `
const { parentPort, threadId } = require('node:worker_threads')
parentPort.on('message', (job) => setTimeout(() => parentPort.postMessage({ type: 'done', id: job.id, result: { options: job.options }, threadId }), 150))
parentPort.postMessage({ type: 'ready', threadId })
`
const echo = () => new Worker(ECHO, { eval: true })

const cfg = cfgFromObject({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }, process.cwd())
const job = (threads?: number): PoolJob => ({ model: new Uint8Array(1), cfg, options: threads === undefined ? { verify: false } : { verify: false, threads } })
const sentThreads = async (pool: WorkerPool, j: PoolJob): Promise<number> => {
  const { result } = await pool.run(j)
  return (result as unknown as { options: { threads: number } }).options.threads
}

describe('ranking threads per model', () => {
  it('splits the cores between the models running at once, at least 1 and at most 4 each', () => {
    expect([1, 2, 3].map((n) => rankingThreadShare(n, 2))).toEqual([2, 1, 1])
    expect([1, 2, 3, 4, 7, 16].map((n) => rankingThreadShare(n, 8))).toEqual([4, 4, 2, 2, 1, 1])
    expect(rankingThreadShare(1, 1)).toBe(1)
    expect(rankingThreadShare(0, 6)).toBe(4)
  })

  it('a model gets the cores divided by the models running when it starts', async () => {
    const pool = new WorkerPool(3, () => undefined, echo)
    try {
      expect(await sentThreads(pool, job())).toBe(rankingThreadShare(1))
      // three arriving one after another while the others run: 1, 2 and 3 running
      const three = await Promise.all([job(), job(), job()].map((j) => sentThreads(pool, j)))
      expect(three).toEqual([1, 2, 3].map((n) => rankingThreadShare(n)))
      // five on three workers: the two that wait start beside two still running
      const five = await Promise.all([0, 1, 2, 3, 4].map(() => sentThreads(pool, job())))
      expect(five).toEqual([1, 2, 3, 3, 3].map((n) => rankingThreadShare(n)))
    } finally {
      await pool.close()
    }
  })

  it("the user's threads is sent as given", async () => {
    const pool = new WorkerPool(2, () => undefined, echo)
    try {
      expect(await Promise.all([sentThreads(pool, job(3)), sentThreads(pool, job(1))])).toEqual([3, 1])
    } finally {
      await pool.close()
    }
  })
})

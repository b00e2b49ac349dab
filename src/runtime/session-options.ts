import type ort from 'onnxruntime-node'

/**
 * The sessions the engine runs for itself (scoring variants, measuring means and moments, the
 * debug statistics): one intra-op and one inter-op thread, and only fatal messages. One thread
 * makes a session compute the same floats on any machine, thread or worker, so scores compare
 * across sessions; parallelism comes from running sessions side by side (the ranking's lanes,
 * the plugins' models), which several threads per session would oversubscribe.
 */
export const ONE_THREAD_SESSION: Readonly<ort.InferenceSession.SessionOptions> = Object.freeze({ intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 })

import os from 'node:os'

/** The CPUs this process may use (os.availableParallelism where Node has it, else the CPU count). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
}

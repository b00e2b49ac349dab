import { coerceValue, type Coerced, type CoerceContext } from './coerce-value.js'
import type { RawEntry } from './raw-cfg.js'
import { keySpec, type CfgSectionName } from './schema.js'
import type { CalibrationSource } from './types.js'

export interface Slot {
  entry: RawEntry
  value: Coerced
}

/**
 * The coerced value of every accepted key, with typed getters. Each getter returns undefined
 * both for "not set" and for "set to another type", which cannot happen because coercion is
 * driven by the same schema the getters are called with.
 */
export class Slots {
  private readonly slots = new Map<string, Slot>()

  /** Coerces in input order, so the first wrong value in the file is the one reported. */
  constructor(accepted: readonly RawEntry[], ctx: CoerceContext) {
    for (const entry of accepted) {
      const spec = keySpec(entry.section, entry.key)
      if (spec) this.slots.set(id(entry.section, entry.key), { entry, value: coerceValue(spec, entry, ctx) })
    }
  }

  get(section: CfgSectionName, key: string): Slot | undefined {
    return this.slots.get(id(section, key))
  }

  inSection(section: CfgSectionName): Slot[] {
    return [...this.slots.values()].filter((slot) => slot.entry.section === section)
  }

  int(section: CfgSectionName, key: string): number | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'int' ? v.value : undefined
  }

  float(section: CfgSectionName, key: string): number | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'float' ? v.value : undefined
  }

  bool(section: CfgSectionName, key: string): boolean | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'bool' ? v.value : undefined
  }

  choice<T extends string>(section: CfgSectionName, key: string, values: readonly T[]): T | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'enum' ? oneOf(values, v.value) : undefined
  }

  list(section: CfgSectionName, key: string): string[] | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'list' ? v.value : undefined
  }

  path(section: CfgSectionName, key: string): string | null | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'path' ? v.value : undefined
  }

  vector(section: CfgSectionName, key: string): number[] | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'vector' ? v.value : undefined
  }

  calibratePath(section: CfgSectionName, key: string): CalibrationSource[] | undefined {
    const v = this.get(section, key)?.value
    return v?.type === 'calibrate-path' ? v.value : undefined
  }
}

export function oneOf<T extends string>(values: readonly T[], value: string): T | undefined {
  return values.find((v) => v === value)
}

function id(section: string, key: string): string {
  return `${section}\u0000${key}`
}

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ini from 'ini'
import { describe, expect, it } from 'vitest'
import {
  CFG_SCHEMA,
  CfgError,
  cfgFromObject,
  describeAllowed,
  keyLocation,
  loadCfg,
  parseCfg,
  type CfgObject,
  type DataPreprocessConfig,
  type QuantConfig,
} from '../src/cfg/index.js'
import { scanCfg } from '../src/cfg/scan-cfg.js'
import { escapeRegExp } from './helpers/escape-regexp.js'
import { MODELS } from './helpers/models.js'

const FIXTURES = fileURLToPath(new URL('./fixtures/cfg/', import.meta.url))
const DOC = path.join(FIXTURES, 'doc')
const docPath = (name: string): string => path.join(DOC, name)
const doc = (name: string): string => fs.readFileSync(docPath(name), 'utf8')

/** One string per line, so a line number in a test is its position in the list. */
const cfg = (...lines: string[]): string => lines.join('\n') + '\n'

const WEIGHT = cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT')
const FULL = (...dataLines: string[]): string =>
  cfg(
    '[common_quant_param]',
    'quant_type=FULL_QUANT',
    '[data_preprocess_param]',
    'calibrate_path=/data/calib',
    'calibrate_size=100',
    'input_type=IMAGE',
    ...dataLines,
  )

/** What every key resolves to when the cfg sets nothing but quant_type. */
function defaults(overrides: Partial<QuantConfig> = {}): QuantConfig {
  return {
    source: 'model.cfg',
    quantType: 'WEIGHT_QUANT',
    bitNum: 8,
    minQuantWeightSize: 0,
    minQuantWeightChannel: 16,
    skipQuantNode: [],
    debugInfoSavePath: null,
    mixedBit: { initScale: 0.02, autoTune: false },
    fullQuant: { activationQuantMethod: 'MAX_MIN', biasCorrection: true, perChannel: true, targetDevice: 'CPU' },
    dataPreprocess: null,
    // where each key was set: pinned by the tests that read it
    keyLines: expect.any(Object) as Record<string, number>,
    warnings: [],
    ...overrides,
  }
}

function imageDefaults(overrides: Partial<DataPreprocessConfig> = {}): DataPreprocessConfig {
  return {
    calibratePath: [{ inputName: null, dir: path.resolve('/data/calib') }],
    calibrateSize: 100,
    inputType: 'IMAGE',
    imageToFormat: null,
    normalizeMean: null,
    normalizeStd: null,
    resizeWidth: null,
    resizeHeight: null,
    resizeMethod: 'LINEAR',
    centerCropWidth: null,
    centerCropHeight: null,
    ...overrides,
  }
}

function catchCfgError(run: () => unknown): CfgError {
  try {
    run()
  } catch (error) {
    if (error instanceof CfgError) return error
    throw error
  }
  throw new Error('expected a CfgError, but the cfg was accepted')
}

interface Rejection {
  line: number | null
  key: string
  value: string | null
  allowed: string
}

/** The error names file, line, key, value and what is allowed, in the message and in its fields. */
function expectRejected(text: string, want: Rejection): CfgError {
  const error = catchCfgError(() => parseCfg(text, 'model.cfg'))
  expect(error).toMatchObject({ file: 'model.cfg', ...want })
  expect(error.message.startsWith(want.line === null ? 'model.cfg: ' : `model.cfg:${want.line}: `)).toBe(true)
  expect(error.message).toContain(want.value === null ? want.key : `${want.key}=${want.value}`)
  expect(error.message).toContain(`allowed: ${want.allowed}`)
  return error
}

const messages = (config: QuantConfig): string[] => config.warnings.map((w) => w.message)

describe('the MindSpore Lite doc examples (test/fixtures/cfg/doc, verbatim)', () => {
  it('common_quant_param example: every common key set', async () => {
    const file = docPath('common-quant-param-section.cfg')
    expect(await loadCfg(file)).toEqual(
      defaults({
        source: file,
        skipQuantNode: ['node_name1', 'node_name2', 'node_name3'],
        debugInfoSavePath: '/home/workspace/mindspore/debug_info_save_path',
      }),
    )
  })

  it('mixed_bit_weight_quant.cfg: bit_num=0 with [mixed_bit_weight_quant_param]', async () => {
    const file = docPath('mixed_bit_weight_quant.cfg')
    expect(await loadCfg(file)).toEqual(
      defaults({ source: file, bitNum: 0, minQuantWeightSize: 5000, minQuantWeightChannel: 5 }),
    )
  })

  it('fixed_bit_weight_quant.cfg', async () => {
    const file = docPath('fixed_bit_weight_quant.cfg')
    expect(await loadCfg(file)).toEqual(defaults({ source: file }))
  })

  it('full_quant.cfg: two named calibration inputs and the whole image pipeline', async () => {
    const file = docPath('full_quant.cfg')
    expect(await loadCfg(file)).toEqual(
      defaults({
        source: file,
        quantType: 'FULL_QUANT',
        // WEIGHT_QUANT's thresholds: FULL_QUANT plans with 0 and 0, as MindSpore's full quantizer does
        minQuantWeightSize: 0,
        minQuantWeightChannel: 0,
        dataPreprocess: {
          calibratePath: [
            { inputName: 'input_name_1', dir: '/mnt/image/input_1_dir' },
            { inputName: 'input_name_2', dir: path.join(DOC, 'input_2_dir') },
          ],
          calibrateSize: 100,
          inputType: 'IMAGE',
          imageToFormat: 'RGB',
          normalizeMean: [127.5, 127.5, 127.5],
          normalizeStd: [127.5, 127.5, 127.5],
          resizeWidth: 224,
          resizeHeight: 224,
          resizeMethod: 'LINEAR',
          centerCropWidth: 224,
          centerCropHeight: 224,
        },
      }),
    )
  })

  it('dynamic_quant.cfg: both weight thresholds forced to 0, silently', async () => {
    const file = docPath('dynamic_quant.cfg')
    expect(await loadCfg(file)).toEqual(
      defaults({ source: file, quantType: 'DYNAMIC_QUANT', minQuantWeightSize: 0, minQuantWeightChannel: 0 }),
    )
  })

  it('the [mixed_bit_weight_quant_param] section, under a WEIGHT_QUANT header', () => {
    const config = parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_num=0') + doc('mixed-bit-section.cfg'), 'model.cfg')
    expect(config).toEqual(defaults({ bitNum: 0, mixedBit: { initScale: 0.02, autoTune: false } }))
  })

  it.each([
    ['full-quant-per-channel-section.cfg', { activationQuantMethod: 'MAX_MIN', biasCorrection: true, perChannel: true, targetDevice: 'CPU' }],
    ['full-quant-per-layer-section.cfg', { activationQuantMethod: 'MAX_MIN', biasCorrection: true, perChannel: false, targetDevice: 'CPU' }],
    ['full-quant-nvgpu-section.cfg', { activationQuantMethod: 'MAX_MIN', biasCorrection: true, perChannel: true, targetDevice: 'NVGPU' }],
    ['full-quant-dsp-section.cfg', { activationQuantMethod: 'MAX_MIN', biasCorrection: false, perChannel: true, targetDevice: 'DSP' }],
  ] as const)('the [full_quant_param] example %s', (name, fullQuant) => {
    const config = parseCfg(FULL() + doc(name), 'model.cfg')
    expect(config.fullQuant).toEqual(fullQuant)
    expect(config.warnings).toEqual([])
  })

  it('the [data_preprocess_param] example, under a FULL_QUANT header', () => {
    const config = parseCfg(cfg('[common_quant_param]', 'quant_type=FULL_QUANT') + doc('data-preprocess-section.cfg'), '/cfgs/model.cfg')
    expect(config.dataPreprocess).toEqual({
      calibratePath: [
        { inputName: 'input_name_1', dir: '/mnt/image/input_1_dir' },
        { inputName: 'input_name_2', dir: path.resolve('/cfgs/input_2_dir') },
      ],
      calibrateSize: 100,
      inputType: 'IMAGE',
      imageToFormat: 'RGB',
      normalizeMean: [127.5, 127.5, 127.5],
      normalizeStd: [127.5, 127.5, 127.5],
      resizeWidth: 224,
      resizeHeight: 224,
      resizeMethod: 'LINEAR',
      centerCropWidth: 224,
      centerCropHeight: 224,
    })
  })

  it('the debug example is a fragment: alone it lacks quant_type, added to a cfg it sets the path', async () => {
    const alone = await loadCfg(docPath('debug-section.cfg')).catch((error: unknown) => error)
    expect(alone).toBeInstanceOf(CfgError)
    expect(alone).toMatchObject({ key: 'quant_type', line: null })

    const withType = parseCfg(doc('debug-section.cfg').replace('\n', '\nquant_type=WEIGHT_QUANT\n'), 'model.cfg')
    expect(withType.debugInfoSavePath).toBe('/home/workspace/mindspore/debug_info_save_path')
  })

  it('the skip_quant_node example is FULL_QUANT without calibration data: an error until data is added', async () => {
    const file = docPath('skip-quant-node.cfg')
    const error = await loadCfg(file).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CfgError)
    expect(error).toMatchObject({ file, key: 'calibrate_path', line: 3 })

    const withData = parseCfg(doc('skip-quant-node.cfg') + doc('data-preprocess-section.cfg'), 'model.cfg')
    expect(withData.skipQuantNode).toEqual(['conv2d_1', 'add_8', 'concat_1'])
    expect(withData.quantType).toBe('FULL_QUANT')
  })

  it.each(['common-quant-param-section.cfg', 'mixed_bit_weight_quant.cfg', 'fixed_bit_weight_quant.cfg', 'full_quant.cfg', 'dynamic_quant.cfg'])(
    '%s parses without warnings',
    async (name) => {
      expect((await loadCfg(docPath(name))).warnings).toEqual([])
    },
  )
})

describe('agreement with the ini package', () => {
  /** section -> key -> value, as our line scan reads it. */
  function scanned(text: string): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {}
    for (const e of scanCfg(text, 'x.cfg', '/').entries) (out[e.section] ??= {})[e.key] = String(e.value)
    return out
  }
  /** The same, as ini reads it (ini turns true/false into booleans; the cfg keeps text). */
  function iniRead(text: string): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {}
    for (const [section, keys] of Object.entries(ini.decode(text))) {
      out[section] = Object.fromEntries(Object.entries(keys as object).map(([k, v]) => [k, String(v)]))
    }
    return out
  }

  const ordinary = [
    ...['common-quant-param-section.cfg', 'mixed_bit_weight_quant.cfg', 'full_quant.cfg', 'dynamic_quant.cfg', 'data-preprocess-section.cfg', 'full-quant-dsp-section.cfg'].map(
      (name) => [name, doc(name)] as const,
    ),
    ['comments, blanks, spaces around =', cfg('; header', '[common_quant_param]', '', '  # indented', 'quant_type = FULL_QUANT', 'bit_num=8 ; trailing', 'skip_quant_node=a,b # why')] as const,
    ['quoted value and a value containing =', cfg('[common_quant_param]', 'debug_info_save_path="/tmp/with space"', 'skip_quant_node=a=b')] as const,
  ]

  it.each(ordinary)('reads %s exactly as ini does', (_, text) => {
    expect(scanned(text)).toEqual(iniRead(text))
  })

  it('keeps a # that has no whitespace before it, where ini would cut the value (the contract says so)', () => {
    const text = cfg('[common_quant_param]', 'skip_quant_node=conv#1,conv#2')
    expect(scanned(text).common_quant_param.skip_quant_node).toBe('conv#1,conv#2')
    expect(iniRead(text).common_quant_param.skip_quant_node).toBe('conv')
  })

  it('keeps backslashes, where ini would unescape them (UNC and Windows paths)', () => {
    const text = cfg('[common_quant_param]', 'debug_info_save_path=\\\\server\\share\\debug')
    expect(scanned(text).common_quant_param.debug_info_save_path).toBe('\\\\server\\share\\debug')
    expect(iniRead(text).common_quant_param.debug_info_save_path).toBe('\\server\\share\\debug')
  })

  it('cfgFromObject on ini.decode of a doc cfg gives the same config as parseCfg of its text', () => {
    const file = docPath('full_quant.cfg')
    const text = doc('full_quant.cfg')
    // the same but for the lines, which an object does not have
    expect(cfgFromObject(ini.decode(text) as CfgObject, DOC, file)).toEqual({ ...parseCfg(text, file), keyLines: {} })
  })
})

describe('defaults', () => {
  it('a cfg with only quant_type gets every documented default', () => {
    expect(parseCfg(WEIGHT, 'model.cfg')).toEqual(defaults())
  })

  it('FULL_QUANT with only the mandatory data keys: no image steps, LINEAR resize', () => {
    expect(parseCfg(FULL(), 'model.cfg')).toEqual(defaults({ quantType: 'FULL_QUANT', minQuantWeightSize: 0, minQuantWeightChannel: 0, dataPreprocess: imageDefaults() }))
  })

  it('the defaults come from CFG_SCHEMA', () => {
    const config = parseCfg(WEIGHT, 'model.cfg')
    const { common_quant_param: common, mixed_bit_weight_quant_param: mixed, full_quant_param: full } = CFG_SCHEMA
    expect(config.bitNum).toBe(common.keys.bit_num.default)
    expect(config.minQuantWeightSize).toBe(common.keys.min_quant_weight_size.default)
    expect(config.minQuantWeightChannel).toBe(common.keys.min_quant_weight_channel.default)
    expect(config.mixedBit.initScale).toBe(mixed.keys.init_scale.default)
    expect(config.mixedBit.autoTune).toBe(mixed.keys.auto_tune.default)
    expect(config.fullQuant.activationQuantMethod).toBe(full.keys.activation_quant_method.default)
    expect(config.fullQuant.biasCorrection).toBe(full.keys.bias_correction.default)
    expect(config.fullQuant.perChannel).toBe(full.keys.per_channel.default)
  })
})

describe('errors name the file, line, key, value and what is allowed', () => {
  it('bit_num=9 for FULL_QUANT', () => {
    const error = expectRejected(FULL().replace('quant_type=FULL_QUANT', 'quant_type=FULL_QUANT\nbit_num=9'), {
      line: 3,
      key: 'bit_num',
      value: '9',
      allowed: '8',
    })
    expect(error.message).toBe('model.cfg:3: bit_num=9 is not allowed for FULL_QUANT; allowed: 8')
  })

  it('bit_num=4 for DYNAMIC_QUANT', () => {
    const error = expectRejected(cfg('[common_quant_param]', 'quant_type=DYNAMIC_QUANT', 'bit_num=4'), {
      line: 3,
      key: 'bit_num',
      value: '4',
      allowed: '8',
    })
    expect(error.message).toContain('not allowed for DYNAMIC_QUANT')
  })

  it('bit_num outside [0, 16] for WEIGHT_QUANT; both ends of the range are accepted', () => {
    expectRejected(WEIGHT + 'bit_num=17\n', { line: 3, key: 'bit_num', value: '17', allowed: 'an integer in [0, 16]' })
    expect(parseCfg(WEIGHT + 'bit_num=0\n', 'model.cfg').bitNum).toBe(0)
    expect(parseCfg(WEIGHT + 'bit_num=16\n', 'model.cfg').bitNum).toBe(16)
  })

  it.each([
    ['quant_type', 'HALF_QUANT', 'WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT', cfg('[common_quant_param]', 'quant_type=HALF_QUANT'), 2],
    ['activation_quant_method', 'MINMAX', 'MAX_MIN, KL, REMOVAL_OUTLIER', FULL('[full_quant_param]', 'activation_quant_method=MINMAX'), 8],
    ['target_device', 'CPU', 'NVGPU, DSP (leave unset for CPU)', FULL('[full_quant_param]', 'target_device=CPU'), 8],
    ['input_type', 'JPEG', 'IMAGE, BIN', FULL().replace('input_type=IMAGE', 'input_type=JPEG'), 6],
    ['image_to_format', 'YUV', 'RGB, GRAY, BGR', FULL('image_to_format=YUV'), 7],
    ['resize_method', 'BILINEAR', 'LINEAR, NEAREST, CUBIC', FULL('resize_method=BILINEAR'), 7],
  ])('wrong enum: %s=%s', (key, value, allowed, text, line) => {
    expectRejected(text, { line, key, value, allowed })
  })

  it('an enum in the wrong case is rejected (the format is case-sensitive) with a suggestion', () => {
    const error = expectRejected(cfg('[common_quant_param]', 'quant_type=full_quant'), {
      line: 2,
      key: 'quant_type',
      value: 'full_quant',
      allowed: 'WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT',
    })
    expect(error.message).toContain("did you mean 'FULL_QUANT'?")
  })

  it.each([
    ['min_quant_weight_size', '65536', 'an integer in [0, 65535]', WEIGHT + 'min_quant_weight_size=65536\n', 3],
    ['min_quant_weight_channel', '-1', 'an integer in [0, 65535]', WEIGHT + 'min_quant_weight_channel=-1\n', 3],
    ['calibrate_size', '0', 'an integer in [1, 65535]', FULL().replace('calibrate_size=100', 'calibrate_size=0'), 5],
    ['resize_width', '0', 'an integer in [1, 65535]', FULL('resize_width=0'), 7],
    ['center_crop_height', '70000', 'an integer in [1, 65535]', FULL('center_crop_height=70000'), 7],
  ])('out-of-range integer: %s=%s', (key, value, allowed, text, line) => {
    const error = expectRejected(text, { line, key, value, allowed })
    expect(error.message).toContain('out of range')
  })

  it.each([
    ['bit_num', '8.5', '8', FULL().replace('quant_type=FULL_QUANT', 'quant_type=FULL_QUANT\nbit_num=8.5'), 3],
    ['bit_num', 'eight', 'an integer in [0, 16]', WEIGHT + 'bit_num=eight\n', 3],
    ['calibrate_size', '1e2', 'an integer in [1, 65535]', FULL().replace('calibrate_size=100', 'calibrate_size=1e2'), 5],
    ['resize_height', '224px', 'an integer in [1, 65535]', FULL('resize_height=224px'), 7],
    ['min_quant_weight_size', '100.0', 'an integer in [0, 65535]', WEIGHT + 'min_quant_weight_size=100.0\n', 3],
  ])('non-integer: %s=%s', (key, value, allowed, text, line) => {
    const error = expectRejected(text, { line, key, value, allowed })
    expect(error.message).toContain('is not an integer')
  })

  it('an empty value for a typed key', () => {
    const error = expectRejected(WEIGHT + 'bit_num=\n', { line: 3, key: 'bit_num', value: '', allowed: 'an integer in [0, 16]' })
    expect(error.message).toContain('has no value')
  })

  it.each(['1.5', '0', '1', '-0.1'])('init_scale=%s is outside the open interval (0, 1)', (value) => {
    expectRejected(WEIGHT + `[mixed_bit_weight_quant_param]\ninit_scale=${value}\n`, {
      line: 4,
      key: 'init_scale',
      value,
      allowed: 'a number in (0, 1)',
    })
  })

  it('init_scale must be a number; values inside (0, 1) are accepted', () => {
    const error = expectRejected(WEIGHT + '[mixed_bit_weight_quant_param]\ninit_scale=small\n', {
      line: 4,
      key: 'init_scale',
      value: 'small',
      allowed: 'a number in (0, 1)',
    })
    expect(error.message).toContain('is not a number')
    expect(parseCfg(WEIGHT + '[mixed_bit_weight_quant_param]\ninit_scale=0.5\n', 'model.cfg').mixedBit.initScale).toBe(0.5)
  })

  it('a boolean that is not true/false/1/0', () => {
    expectRejected(FULL('[full_quant_param]', 'bias_correction=yes'), {
      line: 8,
      key: 'bias_correction',
      value: 'yes',
      allowed: 'true, false, 1, 0 (case-insensitive)',
    })
  })

  it('missing quant_type names the file and what is allowed', () => {
    const error = expectRejected(cfg('[common_quant_param]', 'bit_num=8'), {
      line: null,
      key: 'quant_type',
      value: null,
      allowed: 'WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT',
    })
    expect(error.message).toContain('missing quant_type in [common_quant_param]')
  })

  it('missing quant_type says where a misplaced quant_type was written', () => {
    const error = catchCfgError(() => parseCfg(cfg('[full_quant_param]', 'quant_type=FULL_QUANT'), 'model.cfg'))
    expect(error.key).toBe('quant_type')
    expect(error.message).toContain('line 2 sets it in [full_quant_param], where it is ignored')
  })

  it('a value with invisible characters shows them, and a long value is cut', () => {
    const zwsp = catchCfgError(() => parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT\u200b'), 'model.cfg'))
    expect(zwsp.message).toBe("model.cfg:2: quant_type=WEIGHT_QUANT\\u{200b} is not allowed (did you mean 'WEIGHT_QUANT'?); allowed: WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT")
    const escape = catchCfgError(() => parseCfg(cfg('[common_quant_param]', 'quant_type=\x1b[31mWEIGHT_QUANT'), 'model.cfg'))
    expect(escape.message).toContain('quant_type=\\u{1b}[31mWEIGHT_QUANT is not allowed')
    const long = catchCfgError(() => parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', `skip_quant_node=${'x'.repeat(10)}`, `bit_num=${'8'.repeat(100_000)}`), 'model.cfg'))
    expect(long.message.length).toBeLessThan(300)
    expect(long.message).toContain('… (100000 characters)')
  })

  it('a missing key written misspelt or in capitals: the error points at that line and suggests the name', () => {
    for (const [text, line, wrote, key] of [
      [cfg('[common_quant_param]', 'bit_num=8', 'QUANT_TYPE=WEIGHT_QUANT'), 3, 'QUANT_TYPE', 'quant_type'],
      [cfg('[common_quant_param]', 'quant_typ=WEIGHT_QUANT'), 2, 'quant_typ', 'quant_type'],
      [cfg('[common_quant_param]', 'quant_type=FULL_QUANT', '[data_preprocess_param]', 'input_type=BIN', 'calibrate_pth=imgs'), 5, 'calibrate_pth', 'calibrate_path'],
    ] as const) {
      const error = catchCfgError(() => parseCfg(text, 'model.cfg'))
      expect([error.line, error.key], text).toEqual([line, key])
      expect(error.message).toMatch(new RegExp(`^model\\.cfg:${line}: (missing ${key}|quant_type=FULL_QUANT needs ${key})`))
      expect(error.message).toContain(`('${wrote}' on line ${line} is not a key of the format; did you mean '${key}'?)`)
    }
    // a real key in the wrong section is no misspelling of a near name
    const other = catchCfgError(() => parseCfg(cfg('[common_quant_param]', 'quant_type=FULL_QUANT', '[full_quant_param]', 'calibrate_size=10'), 'model.cfg'))
    expect(other.message).not.toContain('did you mean')
  })

  it('FULL_QUANT without [data_preprocess_param] is an error: the format needs calibration data', () => {
    const error = expectRejected(cfg('[common_quant_param]', 'quant_type=FULL_QUANT', 'bit_num=8'), {
      line: 2,
      key: 'calibrate_path',
      value: null,
      allowed: 'input_name:dir[,input_name:dir...], or a single dir for a single-input model',
    })
    expect(error.message).toContain('quant_type=FULL_QUANT needs calibrate_path in [data_preprocess_param]')
  })

  it('FULL_QUANT with [data_preprocess_param] but no calibrate_path points at that section', () => {
    expectRejected(cfg('[common_quant_param]', 'quant_type=FULL_QUANT', '[data_preprocess_param]', 'calibrate_size=10', 'input_type=BIN'), {
      line: 3,
      key: 'calibrate_path',
      value: null,
      allowed: 'input_name:dir[,input_name:dir...], or a single dir for a single-input model',
    })
  })

  it.each([
    ['calibrate_size', 'an integer in [1, 65535]'],
    ['input_type', 'IMAGE, BIN'],
  ])('FULL_QUANT without %s is an error', (key, allowed) => {
    const text = FULL().replace(new RegExp(`^${key}=.*\\n`, 'm'), '')
    const error = expectRejected(text, { line: 3, key, value: null, allowed })
    expect(error.message).toContain(`needs ${key}`)
  })

  it('a duplicate key names both lines', () => {
    const error = expectRejected(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_num=8', '# later', 'bit_num=4'), {
      line: 5,
      key: 'bit_num',
      value: '4',
      allowed: 'each key once per section',
    })
    expect(error.message).toContain("duplicate key 'bit_num'")
    expect(error.message).toContain('(lines 3 and 5): bit_num=8, then bit_num=4')
  })

  it('a duplicate key is caught across two headers of the same section', () => {
    const error = catchCfgError(() => parseCfg(WEIGHT + '[full_quant_param]\nper_channel=true\n[common_quant_param]\nquant_type=FULL_QUANT\n', 'model.cfg'))
    expect(error).toMatchObject({ line: 6, key: 'quant_type' })
    expect(error.message).toContain('(lines 2 and 6)')
  })

  it('a key outside any section is an error that names its section', () => {
    const error = catchCfgError(() => parseCfg(cfg('quant_type=WEIGHT_QUANT', '[common_quant_param]'), 'model.cfg'))
    expect(error).toMatchObject({ file: 'model.cfg', line: 1, key: 'quant_type', value: 'WEIGHT_QUANT' })
    expect(error.message).toBe("model.cfg:1: key 'quant_type' is outside any section; put it under [common_quant_param]")
  })

  it('a line that is neither key=value nor [section]', () => {
    const error = catchCfgError(() => parseCfg(WEIGHT + 'per_channel\n', 'model.cfg'))
    expect(error).toMatchObject({ line: 3, value: 'per_channel' })
    expect(error.message).toContain("expected 'key=value' or '[section]'")
  })

  it('ini array syntax on a known key', () => {
    const error = expectRejected(FULL('normalize_mean[]=127.5'), {
      line: 7,
      key: 'normalize_mean[]',
      value: '127.5',
      allowed: 'normalize_mean=[a, b, c] or [a]',
    })
    expect(error.message).toContain('array syntax')
  })

  it('normalize_mean and normalize_std of different lengths', () => {
    const error = expectRejected(FULL('normalize_mean=[127.5]', 'normalize_std=[1, 2, 3]'), {
      line: 8,
      key: 'normalize_std',
      value: '[1, 2, 3]',
      allowed: 'as many values as normalize_mean (1)',
    })
    expect(error.message).toContain('normalize_mean (line 7) has 1')
  })

  it.each(['[127.5, 0, 127.5]', '[0]', '[0.0]'])('normalize_std=%s: a zero would divide by zero', (value) => {
    const error = expectRejected(FULL(`normalize_std=${value}`), {
      line: 7,
      key: 'normalize_std',
      value,
      allowed: '[a, b, c] or [a] with no zero entries',
    })
    expect(error.message).toContain('contains 0')
  })

  it.each([
    ['[1, 2]', 'has 2 values'],
    ['[]', 'has 0 values'],
    ['127.5, 127.5, 127.5', 'is not a bracketed list'],
    ['[127.5, x, 127.5]', "contains 'x'"],
  ])('normalize_mean=%s is not [a, b, c] or [a]', (value, problem) => {
    const error = expectRejected(FULL(`normalize_mean=${value}`), { line: 7, key: 'normalize_mean', value, allowed: '[a, b, c] or [a]' })
    expect(error.message).toContain(problem)
  })

  it.each([
    ['a:/x,/y', "'/y' does not say which input"],
    ['a:/x,a:/y', "names input 'a' more than once"],
    ['input_1:', "no directory after 'input_1:'"],
    [':/data', 'empty input name'],
    [' , ', 'names no directory'],
  ])('calibrate_path=%s', (value, problem) => {
    const error = expectRejected(FULL().replace('calibrate_path=/data/calib', `calibrate_path=${value}`), {
      line: 4,
      key: 'calibrate_path',
      value: value.trim(),
      allowed: 'input_name:dir[,input_name:dir...], or a single dir for a single-input model',
    })
    expect(error.message).toContain(problem)
  })

  it('loadCfg of a missing file is a CfgError naming it', async () => {
    const missing = path.join(FIXTURES, 'no-such.cfg')
    const error = await loadCfg(missing).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CfgError)
    expect(error).toMatchObject({ file: missing, line: null })
    expect((error as CfgError).message).toBe(`${missing}: cannot read cfg file: no such file`)
  })

  it('loadCfg of a directory is a CfgError naming it', async () => {
    const error = await loadCfg(DOC).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CfgError)
    expect((error as CfgError).message).toContain(`${DOC}: cannot read cfg file`)
  })

  it('loadCfg reads UTF-16 with a byte-order mark (PowerShell 5 writes it) like UTF-8', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-utf16-'))
    try {
      const text = '[common_quant_param]\r\nquant_type=WEIGHT_QUANT\r\nbit_num=6\r\n'
      const le = path.join(dir, 'le.cfg')
      fs.writeFileSync(le, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]))
      const be = path.join(dir, 'be.cfg')
      fs.writeFileSync(be, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]))
      for (const file of [le, be]) expect(await loadCfg(file), file).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 6 })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('loadCfg of a binary file (a model given as the cfg) says so instead of quoting its bytes', async () => {
    const model = MODELS.cls
    const error = await loadCfg(model).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CfgError)
    expect((error as CfgError).message).toMatch(new RegExp(`^${escapeRegExp(model)}: not a cfg file: binary data \\(a NUL byte at \\d+\\); a cfg is INI text$`))
  })
})

describe('warnings', () => {
  it('an unknown key suggests the nearest valid name and is ignored', () => {
    const config = parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', '', 'bit_nums=4'), 'model.cfg')
    expect(config.warnings).toEqual([
      {
        file: 'model.cfg',
        line: 4,
        key: 'bit_nums',
        message: "model.cfg:4: unknown key 'bit_nums' in [common_quant_param]; did you mean 'bit_num'?",
      },
    ])
    expect(config.bitNum).toBe(8)
  })

  it('a key with swapped letters still finds its name', () => {
    expect(messages(parseCfg(WEIGHT + 'bti_num=4\n', 'model.cfg'))).toEqual([
      "model.cfg:3: unknown key 'bti_num' in [common_quant_param]; did you mean 'bit_num'?",
    ])
  })

  it("an unknown key close to another section's key suggests that key and its section", () => {
    expect(messages(parseCfg(WEIGHT + 'calibrate_pth=/x\n', 'model.cfg'))).toEqual([
      "model.cfg:3: unknown key 'calibrate_pth' in [common_quant_param]; did you mean 'calibrate_path' (in [data_preprocess_param])?",
    ])
  })

  it('an unknown key with nothing close lists the keys of its section', () => {
    const [message] = messages(parseCfg(FULL('[full_quant_param]', 'compression=high'), 'model.cfg'))
    expect(message).toBe(
      "model.cfg:8: unknown key 'compression' in [full_quant_param] is ignored; known keys there: activation_quant_method, bias_correction, per_channel, target_device",
    )
  })

  it('an unknown section suggests the nearest one and its keys are ignored', () => {
    const config = parseCfg(WEIGHT + '[mixed_bit_weight_quant_params]\ninit_scale=0.5\n', 'model.cfg')
    expect(config.warnings).toEqual([
      {
        file: 'model.cfg',
        line: 3,
        key: null,
        message: 'model.cfg:3: unknown section [mixed_bit_weight_quant_params]; did you mean [mixed_bit_weight_quant_param]? Its keys are ignored',
      },
    ])
    expect(config.mixedBit.initScale).toBe(0.02)
  })

  it('a known key in the wrong section names the section it belongs to and is not applied', () => {
    const config = parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'per_channel=false'), 'model.cfg')
    expect(config.warnings).toEqual([
      {
        file: 'model.cfg',
        line: 3,
        key: 'per_channel',
        message: "model.cfg:3: key 'per_channel' belongs in [full_quant_param], not [common_quant_param]; it is ignored here",
      },
    ])
    expect(config.fullQuant.perChannel).toBe(true)
  })

  it('input_type=BIN: image-only keys are warned about and left out', () => {
    const text = FULL('image_to_format=RGB', 'resize_width=224', 'resize_method=CUBIC', 'normalize_mean=[1]').replace('input_type=IMAGE', 'input_type=BIN')
    const config = parseCfg(text, 'model.cfg')
    expect(config.dataPreprocess).toEqual(imageDefaults({ inputType: 'BIN' }))
    expect(messages(config)).toEqual([
      'model.cfg:7: image_to_format is ignored because input_type=BIN; it applies to IMAGE input only',
      'model.cfg:8: resize_width is ignored because input_type=BIN; it applies to IMAGE input only',
      'model.cfg:9: resize_method is ignored because input_type=BIN; it applies to IMAGE input only',
      'model.cfg:10: normalize_mean is ignored because input_type=BIN; it applies to IMAGE input only',
    ])
  })

  it('input_type=IMAGE: image options apply without warnings', () => {
    const config = parseCfg(FULL('image_to_format=GRAY', 'normalize_mean=[0.5]', 'normalize_std=[0.25]', 'resize_height=32', 'resize_width=64', 'center_crop_width=16', 'center_crop_height=8'), 'model.cfg')
    expect(config.warnings).toEqual([])
    expect(config.dataPreprocess).toEqual(
      imageDefaults({ imageToFormat: 'GRAY', normalizeMean: [0.5], normalizeStd: [0.25], resizeWidth: 64, resizeHeight: 32, centerCropWidth: 16, centerCropHeight: 8 }),
    )
  })

  it('DYNAMIC_QUANT forces the weight thresholds to 0 and notes a non-zero value the user set', () => {
    const config = parseCfg(cfg('[common_quant_param]', 'quant_type=DYNAMIC_QUANT', 'min_quant_weight_size=100', 'min_quant_weight_channel=0'), 'model.cfg')
    expect(config.minQuantWeightSize).toBe(0)
    expect(config.minQuantWeightChannel).toBe(0)
    expect(config.warnings).toEqual([
      {
        file: 'model.cfg',
        line: 3,
        key: 'min_quant_weight_size',
        message: 'model.cfg:3: note: min_quant_weight_size=100 is ignored; DYNAMIC_QUANT always uses 0',
      },
    ])
  })

  it('a section the mode never reads: each key set in it is noted as ignored, at its line', () => {
    const weight8 = parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_num=8', '[mixed_bit_weight_quant_param]', 'init_scale=0.5', 'auto_tune=true', '[full_quant_param]', 'activation_quant_method=KL'), 'model.cfg')
    expect(messages(weight8)).toEqual([
      'model.cfg:5: note: init_scale=0.5 is ignored; [mixed_bit_weight_quant_param] applies to WEIGHT_QUANT with bit_num=0 (mixed bit) only',
      'model.cfg:6: note: auto_tune=true is ignored; [mixed_bit_weight_quant_param] applies to WEIGHT_QUANT with bit_num=0 (mixed bit) only',
      'model.cfg:8: note: activation_quant_method=KL is ignored; [full_quant_param] applies to FULL_QUANT only',
    ])
    // where they apply, no note
    expect(parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_num=0', '[mixed_bit_weight_quant_param]', 'init_scale=0.5'), 'model.cfg').warnings).toEqual([])
    expect(messages(parseCfg(cfg('[common_quant_param]', 'quant_type=DYNAMIC_QUANT', '[full_quant_param]', 'per_channel=false'), 'model.cfg')))
      .toEqual(['model.cfg:4: note: per_channel=false is ignored; [full_quant_param] applies to FULL_QUANT only'])
  })

  it('auto_tune=true with an init_scale written: noted at its line as used only where auto_tune cannot run', () => {
    const mixed = (...lines: string[]) => parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_num=0', '[mixed_bit_weight_quant_param]', ...lines), 'model.cfg')
    expect(messages(mixed('init_scale=0.05', 'auto_tune=True'))).toEqual([
      "model.cfg:5: note: init_scale=0.05 is used only where auto_tune cannot run (a model with external data); auto_tune=true searches init_scale itself",
    ])
    expect(mixed('init_scale=0.05', 'auto_tune=True').mixedBit).toEqual({ initScale: 0.05, autoTune: true })
    // without auto_tune, or with auto_tune alone, nothing to say
    expect(mixed('init_scale=0.05', 'auto_tune=false').warnings).toEqual([])
    expect(mixed('auto_tune=true').warnings).toEqual([])
  })

  it('outside FULL_QUANT an incomplete [data_preprocess_param] is ignored with a warning', () => {
    const config = parseCfg(WEIGHT + '[data_preprocess_param]\ncalibrate_path=/data\n', 'model.cfg')
    expect(config.dataPreprocess).toBeNull()
    expect(messages(config)).toEqual(['model.cfg:3: [data_preprocess_param] is ignored: it needs calibrate_size, input_type as well'])
  })

  it('outside FULL_QUANT a complete [data_preprocess_param] is kept', () => {
    const text = FULL().replace('FULL_QUANT', 'WEIGHT_QUANT')
    expect(parseCfg(text, 'model.cfg').dataPreprocess).toEqual(imageDefaults())
  })
})

describe('aliases the doc itself uses', () => {
  it.each([
    ['RemovalOutlier', 'REMOVAL_OUTLIER'],
    ['REMOVAL_OUTLIER', 'REMOVAL_OUTLIER'],
    ['KL', 'KL'],
  ])('activation_quant_method=%s -> %s', (value, expected) => {
    const config = parseCfg(FULL('[full_quant_param]', `activation_quant_method=${value}`), 'model.cfg')
    expect(config.fullQuant.activationQuantMethod).toBe(expected)
    expect(config.warnings).toEqual([])
  })

  it.each([
    ['NEARST', 'NEAREST'],
    ['NEAREST', 'NEAREST'],
    ['CUBIC', 'CUBIC'],
  ])('resize_method=%s -> %s', (value, expected) => {
    expect(parseCfg(FULL(`resize_method=${value}`), 'model.cfg').dataPreprocess?.resizeMethod).toBe(expected)
  })
})

describe('comments and syntax', () => {
  it('# and ; comment lines, indented comments and blank lines are skipped and keep line numbers right', () => {
    const text = cfg('# top', '; also a comment', '[common_quant_param]', '   # indented', '', 'quant_type=FULL_QUANT', '\t; tab', 'bit_num=7')
    expectRejected(text, { line: 8, key: 'bit_num', value: '7', allowed: '8' })
  })

  it('keyLines maps each applied key to the line that set it, and keyLocation quotes it; unknown and misplaced keys have none', () => {
    // errors found after parsing (a missing calibration folder, an unreadable image) point at
    // these lines, so a change of what they count shows here first
    const text = cfg(
      '# quantization of model.onnx',
      '[common_quant_param]',
      'quant_type=FULL_QUANT',
      '',
      '; eight bits',
      'bit_num=8',
      'bit_nums=8',
      '[data_preprocess_param]',
      'calibrate_path=/data/calib',
      'calibrate_size=100',
      'input_type=IMAGE',
      'activation_quant_method=KL',
      '[full_quant_param]  # per layer',
      '  per_channel = false  ; trailing comment',
    )
    const config = parseCfg(text, 'model.cfg')
    expect(config.keyLines).toStrictEqual({ quant_type: 3, bit_num: 6, calibrate_path: 9, calibrate_size: 10, input_type: 11, per_channel: 14 })
    expect(keyLocation(config, 'per_channel')).toBe('model.cfg:14')
    // set in the wrong section: ignored, so no line to point at
    expect(keyLocation(config, 'activation_quant_method')).toBe('model.cfg')
    expect(config.warnings.map((w) => [w.key, w.line])).toEqual([['bit_nums', 7], ['activation_quant_method', 12]])
  })

  it('a trailing comment after whitespace is stripped, for # and ;', () => {
    const config = parseCfg(cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT   # the mode', 'bit_num=4 ; fewer bits', 'skip_quant_node=a,b\t# tab before'), 'model.cfg')
    expect(config).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 4, skipQuantNode: ['a', 'b'], warnings: [] })
  })

  it('a # or ; with no whitespace before it is part of the value', () => {
    const config = parseCfg(WEIGHT + 'skip_quant_node=conv#1,add;2\n', 'model.cfg')
    expect(config.skipQuantNode).toEqual(['conv#1', 'add;2'])
  })

  it('a comment glued to a number makes it a wrong value, not a silently truncated one', () => {
    expectRejected(WEIGHT + 'bit_num=4#four\n', { line: 3, key: 'bit_num', value: '4#four', allowed: 'an integer in [0, 16]' })
  })

  it('a section header may carry a trailing comment', () => {
    expect(parseCfg(cfg('[common_quant_param]  # main', 'quant_type=DYNAMIC_QUANT'), 'model.cfg').quantType).toBe('DYNAMIC_QUANT')
  })

  it('whitespace around keys, = and values is ignored', () => {
    const config = parseCfg(cfg('  [ common_quant_param ]  ', '  quant_type   =   WEIGHT_QUANT  ', 'bit_num\t=\t4'), 'model.cfg')
    expect(config).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 4, warnings: [] })
  })

  it('CRLF and CR line endings keep line numbers right', () => {
    for (const eol of ['\r\n', '\r']) {
      const text = ['[common_quant_param]', 'quant_type=FULL_QUANT', '', 'bit_num=4'].join(eol)
      expect(catchCfgError(() => parseCfg(text, 'model.cfg')).line).toBe(4)
    }
  })

  it('a UTF-8 byte order mark does not hide the first section', () => {
    expect(parseCfg('\uFEFF' + WEIGHT, 'model.cfg')).toEqual(defaults())
  })

  it('quotes around a value are removed, a comment after them too; = inside a value is kept', () => {
    const config = parseCfg(
      cfg('[common_quant_param]', "quant_type='WEIGHT_QUANT'", 'debug_info_save_path="/tmp/my debug # 1"  # note', 'skip_quant_node=a=b,c'),
      'model.cfg',
    )
    expect(config).toMatchObject({ quantType: 'WEIGHT_QUANT', debugInfoSavePath: '/tmp/my debug # 1', skipQuantNode: ['a=b', 'c'] })
  })

  it('skip_quant_node: spaces around names and empty items are dropped', () => {
    expect(parseCfg(WEIGHT + 'skip_quant_node= conv1 , ,add_2,\n', 'model.cfg').skipQuantNode).toEqual(['conv1', 'add_2'])
  })
})

describe('booleans are case-insensitive true/false/1/0', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['1', true],
    ['false', false],
    ['FALSE', false],
    ['False', false],
    ['0', false],
  ])('per_channel=%s', (value, expected) => {
    const config = parseCfg(FULL('[full_quant_param]', `per_channel=${value}`, `bias_correction=${value}`), 'model.cfg')
    expect(config.fullQuant.perChannel).toBe(expected)
    expect(config.fullQuant.biasCorrection).toBe(expected)
  })

  it.each([
    ['TRUE', true],
    ['0', false],
  ])('auto_tune=%s', (value, expected) => {
    expect(parseCfg(WEIGHT + `[mixed_bit_weight_quant_param]\nauto_tune=${value}\n`, 'model.cfg').mixedBit.autoTune).toBe(expected)
  })
})

describe('paths resolve against the cfg file folder', () => {
  it('relative calibrate_path and debug_info_save_path', () => {
    const text = FULL().replace('/data/calib', 'calib/images').replace('quant_type=FULL_QUANT', 'quant_type=FULL_QUANT\ndebug_info_save_path=../debug')
    const config = parseCfg(text, '/projects/app/models/model.cfg')
    expect(config.dataPreprocess?.calibratePath).toEqual([{ inputName: null, dir: path.resolve('/projects/app/models/calib/images') }])
    expect(config.debugInfoSavePath).toBe(path.resolve('/projects/app/debug'))
  })

  it('absolute paths stay absolute', () => {
    const text = FULL().replace('quant_type=FULL_QUANT', 'quant_type=FULL_QUANT\ndebug_info_save_path=/var/debug')
    const config = parseCfg(text, '/projects/app/model.cfg')
    expect(config.dataPreprocess?.calibratePath).toEqual([{ inputName: null, dir: path.resolve('/data/calib') }])
    expect(config.debugInfoSavePath).toBe(path.resolve('/var/debug'))
  })

  it('a relative cfg file name resolves against the working directory', () => {
    const config = parseCfg(WEIGHT + 'debug_info_save_path=out\n', 'configs/model.cfg')
    expect(config.debugInfoSavePath).toBe(path.resolve('configs/out'))
  })

  it('loadCfg resolves against the folder of the file it read', async () => {
    const file = path.join(FIXTURES, 'relative', 'model.cfg')
    const config = await loadCfg(file)
    expect(config.debugInfoSavePath).toBe(path.join(FIXTURES, 'debug-out'))
    expect(config.dataPreprocess?.calibratePath).toEqual([{ inputName: null, dir: path.join(FIXTURES, 'relative', 'images') }])
  })

  it('an empty debug_info_save_path means unset', () => {
    expect(parseCfg(WEIGHT + 'debug_info_save_path=\n', 'model.cfg').debugInfoSavePath).toBeNull()
  })
})

describe('calibrate_path', () => {
  const sources = (value: string): unknown =>
    parseCfg(FULL().replace('calibrate_path=/data/calib', `calibrate_path=${value}`), '/cfg/model.cfg').dataPreprocess?.calibratePath

  it('several inputs, each input_name:dir', () => {
    expect(sources('input_ids:/data/ids, attention_mask : masks ,')).toEqual([
      { inputName: 'input_ids', dir: path.resolve('/data/ids') },
      { inputName: 'attention_mask', dir: path.resolve('/cfg/masks') },
    ])
  })

  it('a bare dir for a single-input model', () => {
    expect(sources('images')).toEqual([{ inputName: null, dir: path.resolve('/cfg/images') }])
  })

  it('one named input', () => {
    expect(sources('input.1:images')).toEqual([{ inputName: 'input.1', dir: path.resolve('/cfg/images') }])
  })

  it.runIf(process.platform === 'win32')('a Windows drive path is not split at the drive colon', () => {
    expect(sources('C:\\calib\\images')).toEqual([{ inputName: null, dir: 'C:\\calib\\images' }])
    expect(sources('input_1:C:\\calib\\images')).toEqual([{ inputName: 'input_1', dir: 'C:\\calib\\images' }])
  })

  it.skipIf(process.platform === 'win32')('a Windows path elsewhere is an error naming the line and the folder (not split at the drive colon, not read as a relative name)', () => {
    const line = FULL().split('\n').findIndex((l) => l.startsWith('calibrate_path=')) + 1
    for (const [value, dir] of [['C:\\calib\\images', 'C:\\calib\\images'], ['input_1:C:\\calib\\images', 'C:\\calib\\images'], ['\\\\server\\share', '\\\\server\\share']]) {
      expect(() => sources(value!)).toThrow(`/cfg/model.cfg:${line}: calibrate_path=${value} names '${dir}', a Windows path, which this ${process.platform} system cannot open`)
    }
    const text = `${WEIGHT}debug_info_save_path=C:\\dbg\n`
    expect(() => parseCfg(text, 'model.cfg')).toThrow(`model.cfg:${text.split('\n').length - 1}: debug_info_save_path=C:\\dbg is a Windows path, which this ${process.platform} system cannot open`)
  })

  it('a dir containing : is not split when the part before the colon is a path', () => {
    expect(sources('/mnt/run:3/images')).toEqual([{ inputName: null, dir: path.resolve('/mnt/run:3/images') }])
    expect(sources('./calib_T10:00')).toEqual([{ inputName: null, dir: path.resolve('/cfg/calib_T10:00') }])
  })

  it('input names that hold colons, as PyTorch names its inputs (onnx::MatMul_0)', () => {
    expect(sources('onnx::MatMul_0:/data/a, onnx::MatMul_1:b')).toEqual([
      { inputName: 'onnx::MatMul_0', dir: path.resolve('/data/a') },
      { inputName: 'onnx::MatMul_1', dir: path.resolve('/cfg/b') },
    ])
    // a colon in the dir after a name: the name is what stands before the first path character
    expect(sources('x:/mnt/run:3')).toEqual([{ inputName: 'x', dir: path.resolve('/mnt/run:3') }])
    expect(sources('onnx::x')).toEqual([{ inputName: null, dir: path.resolve('/cfg/onnx::x') }])
  })

  it('an entry with several colons reads the way whose folder exists (a name or a folder may hold a colon)', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-colons-'))
    try {
      const read = (value: string) => parseCfg(FULL().replace('calibrate_path=/data/calib', `calibrate_path=${value}`), path.join(base, 'model.cfg')).dataPreprocess?.calibratePath
      // no folder exists: the last colon's reading, so a PyTorch name stays whole
      expect(read('images:calib_T10:00')).toEqual([{ inputName: 'images:calib_T10', dir: path.join(base, '00') }])
      fs.mkdirSync(path.join(base, 'calib_T10:00'))
      expect(read('images:calib_T10:00')).toEqual([{ inputName: 'images', dir: path.join(base, 'calib_T10:00') }])
      fs.mkdirSync(path.join(base, 'a'))
      expect(read('onnx::MatMul_0:a')).toEqual([{ inputName: 'onnx::MatMul_0', dir: path.join(base, 'a') }])
    } finally {
      fs.rmSync(base, { recursive: true, force: true })
    }
  })

  it.skipIf(process.platform === 'win32')('a single-letter input name before a POSIX absolute dir is a name, not a drive', () => {
    expect(sources('x:/data/x')).toEqual([{ inputName: 'x', dir: '/data/x' }])
  })
})

describe('cfgFromObject', () => {
  const fullQuantObject: CfgObject = {
    common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8 },
    data_preprocess_param: {
      calibrate_path: 'input_name_1:/mnt/image/input_1_dir,input_name_2:input_2_dir',
      calibrate_size: 100,
      input_type: 'IMAGE',
      image_to_format: 'RGB',
      normalize_mean: [127.5, 127.5, 127.5],
      normalize_std: '[127.5, 127.5, 127.5]',
      resize_width: 224,
      resize_height: '224',
      resize_method: 'LINEAR',
      center_crop_width: 224,
      center_crop_height: 224,
    },
    full_quant_param: { activation_quant_method: 'MAX_MIN', bias_correction: true },
  }

  it('gives the same config as parseCfg of the equivalent file (numbers, booleans and arrays accepted)', async () => {
    const file = docPath('full_quant.cfg')
    expect(cfgFromObject(fullQuantObject, DOC, file)).toEqual({ ...(await loadCfg(file)), keyLines: {} })
  })

  it("labels itself '<inline>' by default and resolves relative paths against baseDir", () => {
    const config = cfgFromObject(fullQuantObject, '/project')
    expect(config.source).toBe('<inline>')
    expect(config.dataPreprocess?.calibratePath[1]).toEqual({ inputName: 'input_name_2', dir: path.resolve('/project/input_2_dir') })
  })

  it('validates exactly like the file form, with line null', () => {
    const error = catchCfgError(() =>
      cfgFromObject({ ...fullQuantObject, common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 9 } }, '/project'),
    )
    expect(error).toMatchObject({ file: '<inline>', line: null, key: 'bit_num', value: '9', allowed: '8' })
    expect(error.message).toBe('<inline>: bit_num=9 is not allowed for FULL_QUANT; allowed: 8')
  })

  it('warns like the file form, with line null', () => {
    const text = cfg('[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_nums=4', 'per_channel=false', '[full_quant]', 'x=1')
    const fromText = parseCfg(text, 'model.cfg')
    const fromObject = cfgFromObject(
      { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_nums: 4, per_channel: false }, full_quant: { x: 1 } },
      '.',
      'model.cfg',
    )
    expect(fromObject.warnings.map((w) => w.line)).toEqual([null, null, null])
    const withoutLine = (message: string): string => message.replace(/^model\.cfg:\d+: /, 'model.cfg: ')
    expect(messages(fromObject).sort()).toEqual(messages(fromText).map(withoutLine).sort())
  })

  it('booleans may be true/false or 1/0, as values or strings', () => {
    const config = cfgFromObject(
      { ...fullQuantObject, full_quant_param: { bias_correction: 0, per_channel: 'FALSE' }, mixed_bit_weight_quant_param: { auto_tune: 1 } },
      '/p',
    )
    expect(config.fullQuant).toMatchObject({ biasCorrection: false, perChannel: false })
    expect(config.mixedBit.autoTune).toBe(true)
  })

  it('undefined values mean unset', () => {
    expect(cfgFromObject({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: undefined } }, '/p', 'model.cfg')).toEqual(defaults())
  })

  it.each([
    ['bit_num', true, 'is not an integer'],
    ['bit_num', 8.5, 'is not an integer'],
    ['min_quant_weight_size', [1], 'is not an integer'],
    ['quant_type', 3, 'is not one of the allowed names'],
  ] as const)('a wrong JavaScript type is rejected: %s=%s', (key, value, problem) => {
    const obj = { common_quant_param: { quant_type: 'WEIGHT_QUANT', [key]: value } } as CfgObject
    const error = catchCfgError(() => cfgFromObject(obj, '/p'))
    expect(error).toMatchObject({ key, line: null })
    expect(error.message).toContain(problem)
  })

  it('vectors are checked the same way: zero std and length mismatch', () => {
    const data = fullQuantObject.data_preprocess_param
    expect(catchCfgError(() => cfgFromObject({ ...fullQuantObject, data_preprocess_param: { ...data, normalize_std: [0] } }, '/p')).message).toContain(
      'normalize_std=[0] contains 0',
    )
    expect(catchCfgError(() => cfgFromObject({ ...fullQuantObject, data_preprocess_param: { ...data, normalize_std: [1] } }, '/p')).key).toBe(
      'normalize_std',
    )
  })

  it('a section that is not an object is an error', () => {
    const error = catchCfgError(() => cfgFromObject({ common_quant_param: 'FULL_QUANT' } as unknown as CfgObject, '/p'))
    expect(error.message).toBe('<inline>: section [common_quant_param] must be an object of keys')
  })
})

describe('CFG_SCHEMA', () => {
  it('lists every section and key of the format, in the order of the docs', () => {
    expect(Object.fromEntries(Object.entries(CFG_SCHEMA).map(([section, spec]) => [section, Object.keys(spec.keys)]))).toEqual({
      common_quant_param: ['quant_type', 'bit_num', 'min_quant_weight_size', 'min_quant_weight_channel', 'skip_quant_node', 'debug_info_save_path'],
      mixed_bit_weight_quant_param: ['init_scale', 'auto_tune'],
      full_quant_param: ['activation_quant_method', 'bias_correction', 'per_channel', 'target_device'],
      data_preprocess_param: [
        'calibrate_path',
        'calibrate_size',
        'input_type',
        'image_to_format',
        'normalize_mean',
        'normalize_std',
        'resize_width',
        'resize_height',
        'resize_method',
        'center_crop_width',
        'center_crop_height',
      ],
    })
  })

  it('marks what is mandatory: quant_type always, calibration keys for FULL_QUANT', () => {
    const required = Object.values(CFG_SCHEMA).flatMap((section) =>
      Object.entries(section.keys)
        .filter(([, spec]) => spec.required !== 'optional')
        .map(([key, spec]) => `${key}:${spec.required}`),
    )
    expect(required).toEqual(['quant_type:always', 'calibrate_path:FULL_QUANT', 'calibrate_size:FULL_QUANT', 'input_type:FULL_QUANT'])
  })

  it('describes the allowed values the way errors print them', () => {
    const bitNum = CFG_SCHEMA.common_quant_param.keys.bit_num
    expect(describeAllowed(bitNum)).toBe('WEIGHT_QUANT: [0, 16]; FULL_QUANT: 8; DYNAMIC_QUANT: 8')
    expect(describeAllowed(bitNum, 'WEIGHT_QUANT')).toBe('an integer in [0, 16]')
    expect(describeAllowed(CFG_SCHEMA.mixed_bit_weight_quant_param.keys.init_scale)).toBe('a number in (0, 1)')
    expect(describeAllowed(CFG_SCHEMA.data_preprocess_param.keys.resize_method)).toBe('LINEAR, NEAREST, CUBIC')
  })
})

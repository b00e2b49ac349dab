// Calibration data: IMAGE preprocessing (format, normalization, resize, center crop, layout,
// element type), BIN files, the calibrate_path mapping and the bad cases. Expected values are
// computed here, independently of src/calibrate, from the pixels the test itself wrote.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openCalibrationSet } from '../src/calibrate/calibration-set.js'
import { cfgFromObject, parseCfg, type CfgObject } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { seededRandom, type InputSpec } from '../src/runtime/feeds.js'
import { verificationSamples } from '../src/runtime/verify.js'

const FIXTURES = path.resolve('test/fixtures/calibration')
let root: string

/** A W x H RGB image with random pixels, as raw HWC bytes. */
function pixels(width: number, height: number, seed: number, channels = 3): Uint8Array {
  const rand = seededRandom(seed)
  return Uint8Array.from({ length: width * height * channels }, () => Math.floor(rand() * 256))
}

async function writeImage(file: string, data: Uint8Array, width: number, height: number, channels = 3): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const img = sharp(Buffer.from(data), { raw: { width, height, channels: channels as 1 | 3 } })
  const ext = path.extname(file)
  if (ext === '.png') await img.png().toFile(file)
  else if (ext === '.webp') await img.webp({ lossless: true }).toFile(file)
  else await img.jpeg({ quality: 90 }).toFile(file)
}

function spec(name: string, dims: (number | null)[], elemType = DataType.FLOAT): InputSpec {
  return { name, elemType, dims, params: dims.map(() => '') }
}

function cfg(data: CfgObject[string]): ReturnType<typeof cfgFromObject> {
  return cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_size: 100, input_type: 'IMAGE', ...data } }, root, path.join(root, 'test.cfg'))
}

async function firstSample(dims: (number | null)[], data: CfgObject[string], elemType = DataType.FLOAT, dir = 'img'): Promise<{ data: ArrayLike<number | bigint>; dims: readonly number[]; type: string }> {
  const set = await openCalibrationSet([spec('x', dims, elemType)], cfg({ calibrate_path: dir, ...data }), [])
  const t = (await set.sample(0)).x!
  return { data: t.data as ArrayLike<number>, dims: t.dims, type: t.type }
}

// 7 x 5 pixels: odd sizes, so resizes have fractional scales and crops uneven margins
const W = 7
const H = 5
const RGB = pixels(W, H, 1)
const px = (x: number, y: number, c: number): number => RGB[(y * W + x) * 3 + c]!

/** Planar (CHW) float of an HWC image given as a function of (x, y, c). */
function planar(width: number, height: number, channels: number, at: (x: number, y: number, c: number) => number): number[] {
  const out: number[] = []
  for (let c = 0; c < channels; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.push(at(x, y, c))
  return out
}

function expectClose(actual: ArrayLike<number | bigint>, expected: number[], digits = 3): void {
  expect(actual.length).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) expect(Number(actual[i])).toBeCloseTo(expected[i]!, digits)
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'calibration-data-'))
  await writeImage(path.join(root, 'img/a.png'), RGB, W, H)
  await writeImage(path.join(root, 'gray/a.png'), pixels(W, H, 2, 1), W, H, 1)
})

afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe('IMAGE decoding and channel format', () => {
  it('PNG to NCHW float32 on the 0-255 scale, RGB order by default', async () => {
    const t = await firstSample([null, 3, null, null], {})
    expect(t.dims).toEqual([1, 3, H, W])
    expect(t.type).toBe('float32')
    expectClose(t.data, planar(W, H, 3, px))
  })

  it('image_to_format=BGR swaps red and blue', async () => {
    const t = await firstSample([1, 3, H, W], { image_to_format: 'BGR' })
    expectClose(t.data, planar(W, H, 3, (x, y, c) => px(x, y, 2 - c)))
  })

  it('image_to_format=GRAY is the BT.601 luma, one channel', async () => {
    const t = await firstSample([1, 1, H, W], { image_to_format: 'GRAY' })
    expect(t.dims).toEqual([1, 1, H, W])
    expectClose(t.data, planar(W, H, 1, (x, y) => 0.299 * px(x, y, 0) + 0.587 * px(x, y, 1) + 0.114 * px(x, y, 2)))
  })

  it('a one-channel input with no image_to_format gets gray; a gray image asked for in RGB repeats its value', async () => {
    const t = await firstSample([1, 1, H, W], {})
    expectClose(t.data, planar(W, H, 1, (x, y) => 0.299 * px(x, y, 0) + 0.587 * px(x, y, 1) + 0.114 * px(x, y, 2)))
    const g = pixels(W, H, 2, 1)
    const rgb = await firstSample([1, 3, H, W], { image_to_format: 'RGB' }, DataType.FLOAT, 'gray')
    expectClose(rgb.data, planar(W, H, 3, (x, y) => g[y * W + x]!))
  })

  it('JPEG and lossless WebP decode to the pixels sharp reads from the file', async () => {
    for (const name of ['b.jpg', 'c.webp']) {
      const dir = path.join(root, `fmt-${name}`)
      await writeImage(path.join(dir, name), RGB, W, H)
      const { data } = await sharp(path.join(dir, name)).removeAlpha().raw().toBuffer({ resolveWithObject: true })
      const t = await firstSample([1, H, W, 3], {}, DataType.FLOAT, dir)
      expectClose(t.data, Array.from(data))
      if (name.endsWith('.webp')) expectClose(t.data, Array.from(RGB))
    }
  })
})

describe('normalization, resize and center crop', () => {
  it('normalize_mean / normalize_std per channel on the 0-255 scale, and one value for all channels', async () => {
    const mean = [123.675, 116.28, 103.53]
    const std = [58.395, 57.12, 57.375]
    const t = await firstSample([1, 3, H, W], { normalize_mean: mean, normalize_std: std })
    expectClose(t.data, planar(W, H, 3, (x, y, c) => (px(x, y, c) - mean[c]!) / std[c]!), 4)
    const one = await firstSample([1, 3, H, W], { normalize_mean: [127.5], normalize_std: [127.5] })
    expectClose(one.data, planar(W, H, 3, (x, y, c) => (px(x, y, c) - 127.5) / 127.5), 4)
  })

  // Independent 2-D formulas with OpenCV's conventions.
  const clampI = (v: number, n: number): number => Math.max(0, Math.min(n - 1, v))
  function bilinear(x: number, y: number, c: number, sw: number, sh: number): number {
    const fx = Math.min(Math.max((x + 0.5) * (W / sw) - 0.5, 0), W - 1)
    const fy = Math.min(Math.max((y + 0.5) * (H / sh) - 0.5, 0), H - 1)
    const x0 = Math.floor(fx)
    const y0 = Math.floor(fy)
    const ax = fx - x0
    const ay = fy - y0
    const x1 = clampI(x0 + 1, W)
    const y1 = clampI(y0 + 1, H)
    return (1 - ay) * ((1 - ax) * px(x0, y0, c) + ax * px(x1, y0, c)) + ay * ((1 - ax) * px(x0, y1, c) + ax * px(x1, y1, c))
  }
  function keys(d: number): number {
    const a = -0.75
    const t = Math.abs(d)
    if (t <= 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0
  }
  function bicubic(x: number, y: number, c: number, sw: number, sh: number): number {
    const fx = (x + 0.5) * (W / sw) - 0.5
    const fy = (y + 0.5) * (H / sh) - 0.5
    let acc = 0
    for (let j = Math.floor(fy) - 1; j <= Math.floor(fy) + 2; j++) {
      for (let i = Math.floor(fx) - 1; i <= Math.floor(fx) + 2; i++) acc += keys(fx - i) * keys(fy - j) * px(clampI(i, W), clampI(j, H), c)
    }
    return acc
  }
  const nearest = (x: number, y: number, c: number, sw: number, sh: number): number => px(Math.min(Math.floor(x * (W / sw)), W - 1), Math.min(Math.floor(y * (H / sh)), H - 1), c)

  for (const [method, f] of [['LINEAR', bilinear], ['NEAREST', nearest], ['CUBIC', bicubic]] as const) {
    it(`resize_method=${method} up and down to resize_width x resize_height`, async () => {
      for (const [sw, sh] of [[11, 8], [4, 3]] as const) {
        const t = await firstSample([1, 3, null, null], { resize_width: sw, resize_height: sh, resize_method: method })
        expect(t.dims).toEqual([1, 3, sh, sw])
        expectClose(t.data, planar(sw, sh, 3, (x, y, c) => f(x, y, c, sw, sh)), 3)
      }
    })
  }

  it('resize comes after normalization (values are resized in float, not rounded to bytes)', async () => {
    const t = await firstSample([1, 3, 8, 11], { normalize_mean: [100], normalize_std: [3], resize_width: 11, resize_height: 8 })
    expectClose(t.data, planar(11, 8, 3, (x, y, c) => (bilinear(x, y, c, 11, 8) - 100) / 3), 4)
  })

  it('center_crop_width / center_crop_height keep the centred window, after resizing', async () => {
    const t = await firstSample([1, 3, null, null], { center_crop_width: 4, center_crop_height: 2 })
    expect(t.dims).toEqual([1, 3, 2, 4])
    // (7 - 4) / 2 -> left 1, (5 - 2) / 2 -> top 1
    expectClose(t.data, planar(4, 2, 3, (x, y, c) => px(x + 1, y + 1, c)))
    const r = await firstSample([1, 3, 3, 3], { resize_width: 11, resize_height: 8, center_crop_width: 3, center_crop_height: 3 })
    expectClose(r.data, planar(3, 3, 3, (x, y, c) => bilinear(x + 4, y + 2, c, 11, 8)), 3)
  })
})

describe('layout and element type from the input', () => {
  it('NHWC when the channel dim is last', async () => {
    const t = await firstSample([1, H, W, 3], {})
    expect(t.dims).toEqual([1, H, W, 3])
    expectClose(t.data, Array.from(RGB))
  })

  it('rank-3 CHW and HWC inputs have no batch dim', async () => {
    expect((await firstSample([3, null, null], {})).dims).toEqual([3, H, W])
    const hwc = await firstSample([null, null, 3], {})
    expect(hwc.dims).toEqual([H, W, 3])
    expectClose(hwc.data, Array.from(RGB))
  })

  it('uint8 inputs get rounded, saturated values; int8 saturates at -128..127', async () => {
    const u8 = await firstSample([1, 3, H, W], { normalize_mean: [64], normalize_std: [0.5] }, DataType.UINT8)
    expect(u8.type).toBe('uint8')
    const expected = planar(W, H, 3, (x, y, c) => Math.min(255, Math.max(0, Math.round((px(x, y, c) - 64) / 0.5))))
    expect(Array.from(u8.data as Uint8Array)).toEqual(expected)
    const i8 = await firstSample([1, 3, H, W], { normalize_mean: [128] }, DataType.INT8)
    expect(i8.type).toBe('int8')
    expect(Array.from(i8.data as Int8Array)).toEqual(planar(W, H, 3, (x, y, c) => Math.min(127, px(x, y, c) - 128)))
  })

  it('float16 inputs get IEEE half values', async () => {
    const t = await firstSample([1, 3, H, W], { normalize_mean: [127.5], normalize_std: [127.5] }, DataType.FLOAT16)
    expect(t.type).toBe('float16')
    const half = t.data as Uint16Array
    const decode = (h: number): number => {
      const e = (h >> 10) & 0x1f
      const m = h & 0x3ff
      const s = h >> 15 ? -1 : 1
      return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15)
    }
    const expected = planar(W, H, 3, (x, y, c) => (px(x, y, c) - 127.5) / 127.5)
    for (let i = 0; i < expected.length; i++) expect(Math.abs(decode(half[i]!) - expected[i]!)).toBeLessThanOrEqual(2 ** -11)
  })

  it('fixed spatial dims that the preprocessed image does not match are an error naming the file and the fix', async () => {
    await expect(firstSample([1, 3, 32, 32], {})).rejects.toThrow(/a\.png: the preprocessed image is 7x5 but input 'x' \[1, 3, 32, 32\] takes 32x32 \(set resize_width/)
  })

  it('a format whose channel count the input does not take is an error', async () => {
    await expect(firstSample([1, 3, H, W], { image_to_format: 'GRAY' })).rejects.toThrow(/test\.cfg: input 'x' \[1, 3, 5, 7\] takes 3 channel\(s\) but image_to_format=GRAY gives 1/)
  })
})

describe('BIN files', () => {
  it('a .bin is the raw buffer of one input; a wrong size names the file, its size and the size expected', async () => {
    const dir = path.join(root, 'bin')
    fs.mkdirSync(dir, { recursive: true })
    const values = Float32Array.from({ length: 2 * 3 }, (_, i) => i * 0.5 - 1)
    fs.writeFileSync(path.join(dir, '0.bin'), new Uint8Array(values.buffer))
    fs.writeFileSync(path.join(dir, '1.bin'), new Uint8Array(10))
    const c = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: 'bin', calibrate_size: 2, input_type: 'BIN' } }, root, path.join(root, 'test.cfg'))
    const set = await openCalibrationSet([spec('x', [1, 2, 3])], c, [])
    expect(set.count).toBe(2)
    const t = (await set.sample(0)).x!
    expect(t.dims).toEqual([1, 2, 3])
    expect(Array.from(t.data as Float32Array)).toEqual(Array.from(values))
    const err = await set.sample(1).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QuantizeError)
    expect((err as Error).message).toMatch(/1\.bin: 10 bytes do not fit input 'x' FLOAT \[1, 2, 3\]: expected 24 bytes/)
  })

  it('a .bin holding a NaN or an infinity is an error naming the file and the element', async () => {
    for (const [k, bad] of [NaN, Infinity, -Infinity].entries()) {
      const dir = path.join(root, `bin-non-finite-${k}`)
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, '0.bin'), new Uint8Array(Float32Array.from([0, 1, 2, bad, 4, 5]).buffer))
      const c = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: path.basename(dir), calibrate_size: 1, input_type: 'BIN' } }, root, path.join(root, 'test.cfg'))
      const set = await openCalibrationSet([spec('x', [1, 2, 3])], c, [])
      await expect(set.sample(0)).rejects.toThrow(`${path.join(dir, '0.bin')}: holds ${bad} at element 3: calibration data must be finite`)
    }
  })
})

describe('BIN files for inputs with unknown height and width', () => {
  it('are read as squares, with a warning naming the input; a size that is no square says so', async () => {
    const dir = path.join(root, 'bin-square')
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, '0.bin'), new Uint8Array(new Float32Array(3 * 4 * 4).buffer))
    fs.writeFileSync(path.join(dir, '1.bin'), new Uint8Array(new Float32Array(3 * 2 * 4).buffer))
    const c = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: 'bin-square', calibrate_size: 2, input_type: 'BIN' } }, root, path.join(root, 'test.cfg'))
    const warnings: string[] = []
    const set = await openCalibrationSet([spec('x', [null, 3, null, null])], c, warnings)
    expect(warnings).toEqual([`input 'x' is [?, 3, ?, ?]: each .bin file in ${dir} is read as a square (H = W from its size), so a sample that is not square is scrambled; calibrate with input_type=IMAGE or give the model fixed H and W`])
    expect((await set.sample(0)).x!.dims).toEqual([1, 3, 4, 4])
    // 96 bytes are a multiple of 12: what is wrong is that 2 x 4 is not a square
    await expect(set.sample(1)).rejects.toThrow(`${path.join(dir, '1.bin')}: 96 bytes do not fit input 'x' FLOAT [?, 3, ?, ?]: expected 12 bytes times a square number (the two unknown dims are read as a square)`)
  })

  it('an empty file fits no shape: an error naming it, not an inferred dim of 0', async () => {
    const dir = path.join(root, 'bin-empty')
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, '0.bin'), new Uint8Array(0))
    const c = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: 'bin-empty', calibrate_size: 1, input_type: 'BIN' } }, root, path.join(root, 'test.cfg'))
    const square = await openCalibrationSet([spec('x', [null, 3, null, null])], c, [])
    await expect(square.sample(0)).rejects.toThrow(`${path.join(dir, '0.bin')}: 0 bytes do not fit input 'x' FLOAT [?, 3, ?, ?]: expected 12 bytes times a square number (the two unknown dims are read as a square)`)
    const oneUnknown = await openCalibrationSet([spec('x', [1, null])], c, [])
    await expect(oneUnknown.sample(0)).rejects.toThrow(`${path.join(dir, '0.bin')}: 0 bytes do not fit input 'x' FLOAT [1, ?]: expected a non-zero multiple of 4 bytes`)
  })
})

describe('calibrate_path mapping and file selection', () => {
  it('maps each input to its folder; files in sorted order, the first calibrate_size, loaded when asked for', async () => {
    for (const [name, seed] of [['b.png', 10], ['a.png', 11], ['c.png', 12], ['notes.txt', 0]] as const) {
      if (name.endsWith('.txt')) fs.writeFileSync(path.join(root, 'multi-a', name), 'not calibration data')
      else await writeImage(path.join(root, 'multi-a', name), pixels(W, H, seed), W, H)
    }
    for (const [name, seed] of [['2.png', 20], ['1.png', 21], ['3.png', 22]] as const) await writeImage(path.join(root, 'multi-b', name), pixels(W, H, seed, 1), W, H, 1)
    const c = cfg({ calibrate_path: 'image:multi-a,mask:multi-b', calibrate_size: 2 })
    const warnings: string[] = []
    const set = await openCalibrationSet([spec('image', [1, 3, H, W]), spec('mask', [1, 1, H, W])], c, warnings)
    expect(warnings).toEqual([])
    expect(set.count).toBe(2)
    expect(set.files(0).map((f) => path.relative(root, f))).toEqual([path.join('multi-a', 'a.png'), path.join('multi-b', '1.png')])
    expect(set.files(1).map((f) => path.relative(root, f))).toEqual([path.join('multi-a', 'b.png'), path.join('multi-b', '2.png')])
    const s = await set.sample(1)
    const b = pixels(W, H, 10)
    expectClose(s.image!.data as Float32Array, planar(W, H, 3, (x, y, ch) => b[(y * W + x) * 3 + ch]!))
    expectClose(s.mask!.data as Float32Array, Array.from(pixels(W, H, 20, 1)))
    // read on demand: a file changed after opening is read as it is now
    await writeImage(path.join(root, 'multi-a', 'b.png'), pixels(W, H, 99), W, H)
    const now = pixels(W, H, 99)
    expectClose((await set.sample(1)).image!.data as Float32Array, planar(W, H, 3, (x, y, ch) => now[(y * W + x) * 3 + ch]!))
  })

  it('folders holding different numbers of files: a warning with the numbers they hold', async () => {
    for (const [folder, n] of [['uneven-a', 8], ['uneven-b', 5]] as const) {
      for (let i = 0; i < n; i++) await writeImage(path.join(root, folder, `${i}.png`), pixels(W, H, i), W, H)
    }
    const warnings: string[] = []
    const set = await openCalibrationSet([spec('a', [1, 3, H, W]), spec('b', [1, 3, H, W])], cfg({ calibrate_path: 'a:uneven-a,b:uneven-b', calibrate_size: 6 }), warnings)
    expect(set.count).toBe(5)
    expect(warnings).toContain('calibration folders hold different numbers of files (a: 8, b: 5); using the first 5 of each')
  })

  it('fewer files than calibrate_size is a warning, and the set has what there is', async () => {
    const warnings: string[] = []
    const set = await openCalibrationSet([spec('x', [1, 3, H, W])], cfg({ calibrate_path: 'img', calibrate_size: 5 }), warnings)
    expect(set.count).toBe(1)
    expect(warnings).toEqual([expect.stringMatching(/calibrate_size=5 but .*img has only 1 image file\(s\); calibrating on 1/)])
  })

  it('an unknown input name is an error naming it and the model inputs', async () => {
    await expect(openCalibrationSet([spec('image', [1, 3, H, W]), spec('mask', [1, 1, H, W])], cfg({ calibrate_path: 'image:img,masks:gray' }), []))
      .rejects.toThrow(/test\.cfg: calibrate_path names input 'masks', but the model's inputs are: image, mask/)
  })

  it('from a cfg file, errors found against the model or the disk name the line of the key', async () => {
    const file = path.join(root, 'lines.cfg')
    const text = (data: string[]) => ['[common_quant_param]', 'quant_type=FULL_QUANT', '', '[data_preprocess_param]', 'input_type=IMAGE', 'calibrate_size=1', ...data].join('\n')
    const at = (data: string[]) => parseCfg(text(data), file)
    await expect(openCalibrationSet([spec('image', [1, 3, H, W]), spec('mask', [1, 1, H, W])], at(['calibrate_path=image:img,masks:gray']), []))
      .rejects.toThrow(`${file}:7: calibrate_path names input 'masks', but the model's inputs are: image, mask`)
    await expect(openCalibrationSet([spec('x', [1, 3, H, W])], at(['calibrate_path=nowhere']), []))
      .rejects.toThrow(`${file}:7: calibration folder ${path.join(root, 'nowhere')} does not exist or cannot be read`)
    await expect(openCalibrationSet([spec('x', [1, 3, H, W])], at(['calibrate_path=img', 'image_to_format=GRAY']), []).then((set) => set.sample(0)))
      .rejects.toThrow(`${file}:8: input 'x' [1, 3, ${H}, ${W}] takes 3 channel(s) but image_to_format=GRAY gives 1`)
  })

  it('an empty or missing folder is an error naming the folder', async () => {
    fs.mkdirSync(path.join(root, 'empty'), { recursive: true })
    fs.writeFileSync(path.join(root, 'empty', 'readme.txt'), 'no images here')
    await expect(openCalibrationSet([spec('x', [1, 3, H, W])], cfg({ calibrate_path: 'empty' }), [])).rejects.toThrow(/test\.cfg: calibration folder .*empty has no image files/)
    await expect(openCalibrationSet([spec('x', [1, 3, H, W])], cfg({ calibrate_path: 'missing' }), [])).rejects.toThrow(/calibration folder .*missing does not exist/)
  })

  it('a folder of BMP files (which sharp cannot decode) says so instead of failing on each file', async () => {
    fs.mkdirSync(path.join(root, 'bmp'), { recursive: true })
    // a 1x1 BMP: sharp's prebuilt libvips has no loader for it
    fs.writeFileSync(path.join(root, 'bmp', 'a.bmp'), Buffer.from('424d3a0000000000000036000000280000000100000001000000010018000000000004000000130b0000130b00000000000000000000ff000000', 'hex'))
    await expect(sharp(path.join(root, 'bmp', 'a.bmp')).raw().toBuffer()).rejects.toThrow()
    await expect(openCalibrationSet([spec('x', [1, 3, H, W])], cfg({ calibrate_path: 'bmp' }), []))
      .rejects.toThrow(/calibration folder .*bmp has no image files \(it has \.bmp files, which sharp cannot decode: convert them to PNG\)$/)
    // beside other images: left out, and said
    await sharp({ create: { width: W, height: H, channels: 3, background: '#808080' } }).png().toFile(path.join(root, 'bmp', 'b.png'))
    const warnings: string[] = []
    expect((await openCalibrationSet([spec('x', [1, 3, H, W])], cfg({ calibrate_path: 'bmp' }), warnings)).count).toBe(1)
    expect(warnings.filter((w) => w.includes('.bmp'))).toEqual([`calibration folder ${path.join(root, 'bmp')}: 1 .bmp file(s) left out (sharp cannot decode BMP: convert them to PNG to calibrate on them)`])
  })

  it('an unreadable image is a QuantizeError naming the file', async () => {
    const set = await openCalibrationSet([spec('x', [1, 3, null, null])], cfg({ calibrate_path: FIXTURES }), [])
    const err = await set.sample(0).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QuantizeError)
    expect((err as QuantizeError).file).toBe(path.join(FIXTURES, 'not-an-image.png'))
    expect((err as Error).message).toMatch(/not-an-image\.png: cannot decode calibration image/)
  })

  it('verification and the other data-driven steps use IMAGE calibration data', async () => {
    const c = cfg({ calibrate_path: 'img', calibrate_size: 1 })
    const { samples, inputs } = await verificationSamples([spec('x', [1, 3, H, W])], c, 8)
    expect(inputs).toBe('calibration')
    expect(samples).toHaveLength(1)
    expectClose(samples[0]!.x!.data as Float32Array, planar(W, H, 3, px))
  })
})

import { once } from 'node:events'
import { constants, createBrotliCompress, createGzip } from 'node:zlib'
import type { Transform } from 'node:stream'

/** Sizes when all three were measured. */
export interface MeasuredSizes {
  raw: number
  gzip: number
  brotli: number
}

/** What a user downloads: the bytes as stored and as a server would compress them. */
export interface DownloadSizes {
  raw: number
  /** null when size reporting was turned off (`sizes: false`) */
  gzip: number | null
  brotli: number | null
}

/**
 * Output chunk size. Each full chunk costs a callback on the main thread, where the quantization
 * runs: at zlib's default 16 KiB, compressing PP-OCRv4 det's input and output took 14-16 ms of
 * main-thread CPU, at 64 KiB 6-7 ms (rec: 20 ms, 11 ms) for the same wall time on a loaded
 * machine. Larger chunks cut that further but finished later there: a thread pool task that runs
 * long gets fewer time slices under load than one that yields often.
 */
const CHUNK = 64 * 1024

/**
 * The byte length of `bytes` through `stream`. Only the length is wanted, so each output chunk is
 * counted and dropped: zlib's buffer API keeps every chunk and then copies them into one buffer,
 * up to twice the compressed size held at once (~18 MB for PP-OCRv4 det's input, gzip and
 * brotli). Peak RSS of the report alone (input and output, measured): det 16-22 MB this way,
 * 25-29 MB through the buffer API; rec 27-33 MB against 41-52 MB. What remains is brotli's
 * window and output chunks not yet collected.
 */
async function compressedLength(stream: Transform, bytes: Uint8Array): Promise<number> {
  let length = 0
  stream.on('data', (chunk: Buffer) => { length += chunk.byteLength })
  const done = once(stream, 'end')
  stream.end(bytes)
  await done
  return length
}

/**
 * gzip (level 6) and brotli of each part, compressed concurrently on the libuv thread pool.
 * The report uses brotli quality 5: measured on PP-OCRv4 rec here, quality 9 took 1.3 s against
 * 0.13 s for a file 0.08% smaller (and on the int8 model quality 5 came out smaller); CDNs'
 * precompressed quality 11 is the benchmark's column. gzip's level barely changes size or time
 * on weight data (level 1 is as slow as 6 on float weights, and Huffman-only or RLE strategies,
 * 3x faster, come out up to 85% larger on int8 models, so neither stands in for a server's gzip).
 */
export async function downloadSizes(parts: Uint8Array[], quality = 5): Promise<MeasuredSizes> {
  const jobs = parts.map((bytes) => Promise.all([
    compressedLength(createGzip({ level: 6, chunkSize: CHUNK }), bytes),
    compressedLength(createBrotliCompress({ chunkSize: CHUNK, params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength } }), bytes),
  ]))
  let raw = 0
  let gz = 0
  let br = 0
  for (const [i, [g, b]] of (await Promise.all(jobs)).entries()) {
    raw += parts[i]!.byteLength
    gz += g
    br += b
  }
  return { raw, gzip: gz, brotli: br }
}

// Debian's Chromium (apt package `chromium`, installed by .ci/run) driven by playwright-core.
// playwright-core downloads no browser of its own; it gets the system binary's path. The flags keep
// Chromium from calling home (update checks, sync, field trials): this network refuses those
// connections. Every launch gets a fresh profile: playwright-core passes Chromium a new temporary
// --user-data-dir (it refuses one in `args`) and deletes it on close.
import fs from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** UNPLUGIN_QUANTIZE_SKIP_BROWSER=1 skips the browser tests; without it a missing Chromium fails them. */
export const skipBrowser = process.env.UNPLUGIN_QUANTIZE_SKIP_BROWSER === '1'

/** Throws, saying how to install it, when the Chromium binary is missing. */
export function assertChromium(): void {
  if (fs.existsSync(CHROMIUM_PATH)) return
  throw new Error(
    `${CHROMIUM_PATH} is missing: the browser test needs Debian's Chromium. Install it with ` +
      '`apt-get update && apt-get install -y chromium` (.ci/run does), point CHROMIUM_PATH at another ' +
      'Chromium, or set UNPLUGIN_QUANTIZE_SKIP_BROWSER=1 to skip the browser tests.',
  )
}

export async function launchChromium(): Promise<Browser> {
  assertChromium()
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

#!/usr/bin/env bash
# test/browser-example.test.ts drives Debian's Chromium with playwright-core (browser downloads are
# not used). Install it when missing and we may (root with apt); otherwise the test itself fails
# with instructions, or is skipped with UNPLUGIN_QUANTIZE_SKIP_BROWSER=1.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
[ "${UNPLUGIN_QUANTIZE_SKIP_BROWSER:-}" = "1" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian chromium for the browser test..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "note: /usr/bin/chromium is missing; install Debian's 'chromium' package or set UNPLUGIN_QUANTIZE_SKIP_BROWSER=1" >&2
fi

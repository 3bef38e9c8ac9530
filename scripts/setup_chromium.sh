#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser test (tests/test_dashboard_in_browser.py).
# Playwright's own browser download cannot reach its CDN here, so the test drives this one.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_chromium: chromium is missing and apt-get cannot install it here" >&2
  [ -n "${CI:-}" ] && exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >/dev/null \
  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
command -v chromium >/dev/null

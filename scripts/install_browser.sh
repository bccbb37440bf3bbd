#!/usr/bin/env bash
# Install the headless browser the site's browser test uses (tests/test_site_browser.py):
# Debian's chromium and chromium-driver (about 500 MB).  Idempotent: does nothing when chromium is
# already on PATH.  Needs root (or sudo) and the Debian package mirror.  Playwright (in the test
# extra) drives this system Chromium; never run `playwright install`, which downloads a browser
# of its own and fails without internet.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install_browser: $(chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install_browser: error: installing chromium needs root (apt-get); run this as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "install_browser: installed $(chromium --version)"

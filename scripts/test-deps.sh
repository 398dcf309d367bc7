#!/usr/bin/env bash
# What the tests need besides the models (scripts/fetch-models.sh): Debian's
# Chromium and its WebDriver for the browser test (tests/browser.rs starts both
# itself). Installs them with apt (as root, or through sudo) when missing; does
# nothing on a second run.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
echo "test-deps: installing chromium and chromium-driver (apt)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null

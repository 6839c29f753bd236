#!/usr/bin/env bash
# Installs what the browser tests need on a fresh Debian machine: Debian's
# Chromium, and the npm packages pinned in package-lock.json. Playwright
# downloads no browser of its own, because the tests drive /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "e2e/setup.sh: $tool is missing; install Node.js 20 or newer with npm" >&2
		exit 1
	fi
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi

if [ ! -x /usr/bin/chromium ]; then
	echo "--- installing Debian's chromium"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

# npm ci writes node_modules/.package-lock.json, so a lock file newer than
# that copy means node_modules is stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "--- npm ci"
	npm ci --no-audit --no-fund
fi

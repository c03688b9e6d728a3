#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run the whole suite.
# Python packages go into .venv; the browser tests need Debian's chromium (installed here when
# missing and we may: as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=none; fi
  if [ "$SUDO" != none ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is not installed and this user cannot install it: browser tests will be skipped" >&2
  fi
fi

exec .venv/bin/python -m pytest "$@"

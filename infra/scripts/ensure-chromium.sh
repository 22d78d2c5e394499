#!/usr/bin/env bash
# `make test`'s browser: the admin site, link page and chat-view tests drive Debian's
# Chromium through Playwright (which downloads no browser of its own). Installed here when
# missing and the machine allows it (root, or sudo without a password); otherwise this
# stops at once with the one command to run.
set -euo pipefail

if [[ -n "${CHROMIUM_PATH:-}" && -x "${CHROMIUM_PATH}" ]] || command -v chromium >/dev/null; then
  exit 0
fi
packages=(chromium fonts-noto-color-emoji)
if command -v apt-get >/dev/null; then
  if [[ "$(id -u)" == 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo)
  else
    as_root=(none)
  fi
  if [[ "${as_root[*]:-}" != none ]]; then
    echo "make test: installing Debian's chromium for the browser tests"
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
    exit 0
  fi
fi
echo "make test: the browser tests need Chromium. Install it with:" >&2
echo "    sudo apt-get install ${packages[*]}" >&2
echo "or set CHROMIUM_PATH to a Chromium binary." >&2
exit 1

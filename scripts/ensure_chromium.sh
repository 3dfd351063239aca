#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (tests/e2e) and
# prints its path. When /usr/bin/chromium is missing and we are root, installs
# Debian's `chromium` package with apt-get. Never downloads a browser any other
# way (no `playwright install`: the network is closed). Prints nothing and exits 1
# when Chromium cannot be had. Messages go to stderr.
set -u
CHROMIUM=/usr/bin/chromium
say() { echo "ensure_chromium: $*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "$CHROMIUM is missing; as root run: apt-get update && apt-get install -y chromium"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "$CHROMIUM is missing and there is no apt-get to install it"
    exit 1
  fi
  say "installing Debian's chromium with apt-get"
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
  then
    say "apt-get could not install chromium"
    exit 1
  fi
fi
[ -x "$CHROMIUM" ] || { say "$CHROMIUM is still missing after apt-get"; exit 1; }
echo "$CHROMIUM"

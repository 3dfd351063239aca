#!/usr/bin/env bash
# For `make screenshots`: the Urdu (Arabic-script) letters need a font that has them, or
# Chromium draws boxes. Installs Debian's fonts-noto-core with apt-get when no font for
# Urdu is installed and we are root; otherwise says what is missing. Tests do not need it
# (they check the page's structure, not how the letters look).
set -u
say() { echo "ensure_fonts: $*" >&2; }
if fc-list :lang=ur 2>/dev/null | grep -q .; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's fonts-noto-core (Urdu, Arabic and others) for the screenshots"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-core) >&2 \
    && exit 0
fi
say "no font for Urdu: the Urdu screenshots will show boxes (apt-get install fonts-noto-core)"
exit 0

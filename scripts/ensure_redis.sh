#!/usr/bin/env bash
# Prints a Redis URL for the tests (the production layout's rate-limit store), starting
# Debian's redis-server on 127.0.0.1:6379 when it is installed but not running, and
# installing it with apt-get (as root) when missing. Prints nothing and exits 1 when
# Redis cannot be had. Messages go to stderr.
set -u
say() { echo "ensure_redis: $*" >&2; }
up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

if ! up; then
  if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
      && command -v apt-get >/dev/null 2>&1; then
    say "installing Redis from Debian's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2 || true
  fi
  if command -v redis-server >/dev/null 2>&1; then
    say "starting redis-server on 127.0.0.1:6379 (keeping nothing on disk)"
    redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >&2
    for _ in $(seq 1 20); do up && break; sleep 0.5; done
  fi
fi
up || { say "Redis is not running on 127.0.0.1:6379 and could not be started"; exit 1; }
echo "redis://127.0.0.1:6379"

#!/usr/bin/env bash
# scripts/idle-cpu.sh [SECONDS] [BINARY]: the CPU time (user + system, from /proc/PID/stat) an idle
# `watch --spool` and `serve --spool` use over SECONDS (default 10), on inotify and on
# --poll-only, each with its default tick and poll, in a folder of its own with the shipped files.
# BINARY defaults to target/release/sampleflow (built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
bin=${2:-target/release/sampleflow}
[ -x "$bin" ] || cargo build --release
bin=$(realpath "$bin")
tck=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Whatever ends this script (a closed pipe, ^C) stops the process it started.
pid= work=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$work" ] && rm -rf "$work"' EXIT

measure() { # command [flags...]
  local command=$1 a b
  shift
  work=$(mktemp -d)
  cp -r rules workflows "$work"/
  mkfifo "$work/stdin"
  if [ "$command" = serve ]; then
    (cd "$work" && exec "$bin" --db s.db serve --listen 127.0.0.1:0 --spool spool "$@" \
      < "$work/stdin" 2> "$work/log") &
  else
    (cd "$work" && exec "$bin" --db s.db watch --spool spool --out out.jsonl "$@" \
      < "$work/stdin" 2> "$work/log") &
  fi
  pid=$!
  exec 3> "$work/stdin" # stdin stays open and silent
  until grep -qE '^(watch: ready|listening on)' "$work/log"; do
    kill -0 "$pid"
    sleep 0.1
  done
  sleep 1
  a=$(cpu "$pid")
  sleep "$secs"
  b=$(cpu "$pid")
  printf '%-6s %-12s %5.2f s of CPU in %s s idle\n' "$command" "${*:-(inotify)}" \
    "$(echo "($b - $a) / $tck" | bc -l)" "$secs"
  kill -TERM "$pid"
  exec 3>&-
  wait "$pid" || true
  pid=
  rm -rf "$work"
  work=
}

measure watch
measure watch --poll-only
measure serve
measure serve --poll-only

#!/usr/bin/env bash
# What a reviewer's approve costs end to end: the wall time of `sampleflow review S --approve`,
# from the command's start to its exit with the record printed, on a store that nobody holds (the
# command takes the store itself) and on one held by a live `watch --spool` (the command hands its
# event over and waits for the reply). Both on the example's store and on one of SAMPLES samples
# from `gen`, each with 200 requests pending review; REVIEWS approvals per case, median and p90.
#
#   bash scripts/approve-cost.sh [SAMPLES] [REVIEWS]     (defaults 150000 and 40)
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-150000}
reviews=${2:-40}
cargo build --release --quiet
bin=$PWD/target/release/sampleflow
work=$(mktemp -d)
trap 'kill "$watch_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
watch_pid=
cp -r rules workflows "$work"/
cd "$work"

# 200 requests that screening sends to review (price 60 is above the cap), at time $1.
pending() {
  for i in $(seq 0 199); do
    printf '{"id":"p%s","type":"sample_requested","at":"%s","sample":"ps%s","creator":{"id":"pc%s","followers":6000,"engagement_rate":0.05,"posts_30d":5,"fulfillment_rate_90d":0.8},"product":{"id":"pp%s","category":"sports","price":60,"unit_cost":10}}\n' "$i" "$1" "$i" "$i" "$i"
  done
}

# Times `review psK --approve` for K in [$2, $2 + reviews) on store $1 at time $3; prints ms.
approvals() {
  local db=$1 from=$2 at=$3 k t0 t1
  for k in $(seq "$from" $((from + reviews - 1))); do
    t0=$(date +%s%N)
    "$bin" --db "$db" review "ps$k" --approve --by bench --at "$at" > /dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
  done
}

stats() { # microseconds in, "median X ms, p90 Y ms" out
  sort -n | awk '{ v[NR] = $1 } END { printf "median %.1f ms, p90 %.1f ms (%d approvals)", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000, NR }'
}

measure() { # name db at
  local name=$1 db=$2 at=$3
  echo "$name, nobody holding the store: $(approvals "$db" 0 "$at" | stats)"
  mkdir -p inbox
  SAMPLEFLOW_NOW=$at "$bin" --db "$db" watch --spool inbox < /dev/null > /dev/null 2> watch.log &
  watch_pid=$!
  until grep -q "watch: ready" watch.log; do
    kill -0 "$watch_pid"
    sleep 0.05
  done
  echo "$name, held by a live watch --spool: $(approvals "$db" 100 "$at" | stats)"
  kill -TERM "$watch_pid"
  wait "$watch_pid" || true
  watch_pid=
}

"$bin" --db small.db run "$OLDPWD/examples/events.jsonl" > /dev/null 2>&1
pending 2026-03-28T00:00:00Z > pending-small.jsonl
"$bin" --db small.db run pending-small.jsonl > /dev/null 2>&1
measure "example store (254 samples)" small.db 2026-03-28T01:00:00Z

"$bin" gen --samples "$samples" > big.jsonl 2> /dev/null
"$bin" --db big.db run big.jsonl > /dev/null 2>&1
pending 2099-01-01T00:00:00Z > pending-big.jsonl
"$bin" --db big.db run pending-big.jsonl > /dev/null 2>&1
measure "gen store ($samples samples, $(du -m big.db | cut -f1) MB)" big.db 2099-01-01T01:00:00Z

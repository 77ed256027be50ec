#!/usr/bin/env bash
# scripts/fuzz.sh SECONDS: runs every fuzz target in fuzz/ for SECONDS each (cargo-fuzz, libFuzzer
# with AddressSanitizer, on the stable toolchain under RUSTC_BOOTSTRAP=1), each seeded with the
# project's own files of its kind. Installs cargo-fuzz when it is missing. Every target runs even
# when one finds a crash; exit 1 if any did, with the inputs that crash under fuzz/artifacts/.
# Reproduce one: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/fuzz.sh SECONDS}
case $secs in '' | *[!0-9]*) echo "SECONDS must be a whole number, not \`$secs\`" >&2; exit 2 ;; esac
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Seeds: the files each target reads, as the project ships and tests them.
seed() { # target files...
  local dir=fuzz/corpus/$1
  shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/seed-$(basename "$f")"; done
}
seed workflow workflows/*.yaml tests/fixtures/workflows/*.yaml
seed policy rules/policy.yaml tests/fixtures/rules/*.policy.yaml
seed rule_cases rules/tests/*.yaml
mkdir -p fuzz/corpus/events
split -l 20 -d examples/events.jsonl fuzz/corpus/events/seed-events-

echo "== cargo fuzz build (release, AddressSanitizer)"
cargo fuzz build -O

failed=()
for target in $(cargo fuzz list); do
  echo "== $target for ${secs}s"
  if ! cargo fuzz run -O "$target" -- -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: every target ran ${secs}s without a crash"

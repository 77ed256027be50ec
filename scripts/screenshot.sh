#!/usr/bin/env bash
# Renders `report --html` of the shipped example in headless Chromium (Debian's package), fails
# on any console message or a missing picture, and saves a screenshot (default docs/report.png).
# Without Chromium it fails (`apt-get install chromium`); `.ci/run` installs it first.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/report.png}
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
    echo "screenshot: no chromium here; install it with apt-get install chromium" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo run --release -q -- --db "$tmp/r.db" run examples/events.jsonl --out /dev/null 2>/dev/null
cargo run --release -q -- --db "$tmp/r.db" report --html "$tmp/report.html" >/dev/null 2>&1
"$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
    --window-size=1050,2000 --screenshot="$out" "file://$tmp/report.html" 2>"$tmp/chrome.log"
if grep -q "CONSOLE" "$tmp/chrome.log"; then
    echo "screenshot: the page wrote to the console:" >&2
    grep "CONSOLE" "$tmp/chrome.log" >&2
    exit 1
fi
if [ ! -s "$out" ]; then
    echo "screenshot: chromium wrote no picture" >&2
    tail -5 "$tmp/chrome.log" >&2
    exit 1
fi
echo "screenshot: $out"

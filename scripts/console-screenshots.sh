#!/usr/bin/env bash
# Regenerates the console's screenshots in docs/ (docs/console-*.png: the queue, a sample, a
# creator, the to-ship list, the report and a confirmation page at desktop width, and the queue,
# a sample, a creator and the to-ship list at a phone's 412 px), by running the console's browser
# tests (tests/console_review.rs) with SAMPLEFLOW_DOCS_SCREENSHOTS=1 in headless Chromium. Needs
# what those tests need: chromium, chromedriver and axe-core (scripts/test.sh fetches it).
set -euo pipefail
cd "$(dirname "$0")/.."
for need in chromium chromedriver; do
  if ! command -v "$need" >/dev/null 2>&1; then
    echo "console-screenshots: no $need here; bash scripts/test.sh installs it (Debian's chromium, chromium-driver)" >&2
    exit 1
  fi
done
if [ ! -s target/axe-core/axe.min.js ]; then
  echo "console-screenshots: no axe-core in target/axe-core/; bash scripts/test.sh fetches it" >&2
  exit 1
fi
SAMPLEFLOW_DOCS_SCREENSHOTS=1 cargo test -q --test console_review
ls -l docs/console-*.png

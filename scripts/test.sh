#!/usr/bin/env bash
# The test command: installs what the suite needs when it is missing, then runs every test file,
# going on past a failing one, and exits 1 if any test failed. Arguments go to `cargo test`
# (`bash scripts/test.sh --test serve`).
#
# What the suite needs beyond Rust, as Debian packages, each with the command that shows it is
# there: Chromium and chromedriver for the console's browser tests, and PostgreSQL's server
# (`initdb`, `pg_ctl`) for the tests that start a throwaway cluster of their own (tests/store.rs,
# tests/postgres.rs, and the PostgreSQL cases of resume, serve and connector). They fail, never
# skip, without them. Debian keeps the server's commands off PATH, under
# /usr/lib/postgresql/VERSION/bin: the tests look there too, and so does this script.
set -euo pipefail
cd "$(dirname "$0")/.."

needs=(
  "chromium chromium"
  "chromedriver chromium-driver"
  "pg_ctl postgresql"
)

# True when `command` is on PATH (or, for PostgreSQL's server commands, where Debian puts them).
have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  case "$1" in
    pg_ctl | initdb) compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null ;;
    *) return 1 ;;
  esac
}

missing=()
for need in "${needs[@]}"; do
  read -r command package <<<"$need"
  have "$command" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing what the tests need: ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: no apt-get here; install ${missing[*]} (Debian's names) by hand, then run me again" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# axe-core, the accessibility scan the console's browser tests inject into each page, from the
# npm registry (not committed): fetched once into target/axe-core/, where the tests read it
# (they fail, never skip, without it).
axe_version=4.10.3
axe=target/axe-core/axe.min.js
if [ ! -s "$axe" ]; then
  echo "== fetching axe-core $axe_version from the npm registry into target/axe-core/"
  mkdir -p target/axe-core
  (cd target/axe-core && npm pack --silent "axe-core@$axe_version" >/dev/null &&
    tar -xzf "axe-core-$axe_version.tgz" package/axe.min.js &&
    mv package/axe.min.js axe.min.js && rmdir package && rm -f "axe-core-$axe_version.tgz") || {
    echo "test.sh: cannot fetch axe-core $axe_version with npm (needs Node.js and the npm registry)" >&2
    exit 1
  }
fi

echo "== cargo test --no-fail-fast $*"
status=0
cargo test --no-fail-fast "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "test.sh: some tests failed (each failing file is named above, after \`error: test failed\`)" >&2
fi
exit "$status"

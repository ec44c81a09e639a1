#!/usr/bin/env bash
# Installs what is missing, runs every test, ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || { echo "0 passed, 1 failed"; exit 1; }
log=$(mktemp)
deno test -A --parallel test/ "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# deno prints "ok | 12 passed (3 steps) | 0 failed (4s)" (or FAILED | ...).
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
rm -f "$log"
if [ -z "$summary" ]; then passed=0; failed=1; fi
if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$rc"

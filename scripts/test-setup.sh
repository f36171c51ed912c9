#!/usr/bin/env bash
# What `npm test` needs besides npm packages: the search-engine test nodes (built by Maven) and
# Debian's chromium for the web console's browser tests (installed with apt when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/build-test-node.sh"

if ! command -v chromium >/dev/null; then
  echo "test-setup: installing Debian's chromium for the console's browser tests" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo -n"
  $sudo apt-get install -y -q chromium >/dev/null 2>&1 || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; } \
    || { echo "test-setup: cannot install chromium (apt-get install chromium as root, or set MIMELOG_CHROMIUM to a Chromium binary)" >&2; exit 1; }
fi

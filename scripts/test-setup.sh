#!/usr/bin/env bash
# What `npm test` needs besides npm packages: the search-engine test nodes (built by Maven), and
# from Debian's packages chromium (the console's browser tests) and prometheus (the service's
# metrics test), installed with apt when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/build-test-node.sh"

missing=()
command -v chromium >/dev/null || [[ -n ${MIMELOG_CHROMIUM:-} ]] || missing+=(chromium)
command -v prometheus >/dev/null || [[ -n ${MIMELOG_PROMETHEUS:-} ]] || missing+=(prometheus)
if ((${#missing[@]})); then
  echo "test-setup: installing Debian's ${missing[*]} for the browser and metrics tests" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo -n"
  # Only the binaries are needed: no service is started (tests start their own on loopback).
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
    || { echo "test-setup: cannot install ${missing[*]} (run apt-get install ${missing[*]} as root, or set MIMELOG_CHROMIUM / MIMELOG_PROMETHEUS to the binaries)" >&2; exit 1; }
fi

# The destinations' real receivers, each installed or built once (scripts/receivers/).
for receiver in "$root"/scripts/receivers/*.sh; do bash "$receiver"; done

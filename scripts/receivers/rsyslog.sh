#!/usr/bin/env bash
# The syslog destination's test receiver: Debian's rsyslog with its TLS (gnutls) and RELP input
# modules. Installs the packages when missing and nothing else: no service is started (the tests
# start their own rsyslogd per test file, on loopback, with a config in a temp dir). Idempotent.
set -euo pipefail
mods=/usr/lib/x86_64-linux-gnu/rsyslog
have() { command -v rsyslogd >/dev/null && [[ -e $mods/lmnsd_gtls.so || -n $(find /usr/lib -name lmnsd_gtls.so -print -quit 2>/dev/null) ]] \
  && [[ -n $(find /usr/lib -name imrelp.so -print -quit 2>/dev/null) ]]; }
have && exit 0
echo "rsyslog.sh: installing Debian's rsyslog, rsyslog-gnutls and rsyslog-relp for the syslog tests" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo -n"
export DEBIAN_FRONTEND=noninteractive
pkgs=(rsyslog rsyslog-gnutls rsyslog-relp)
# policy-rc.d, when the image has one, already keeps the package's service from starting; the
# RUNLEVEL=1 guard keeps invoke-rc.d from starting it where there is none.
RUNLEVEL=1 $sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
  || { $sudo apt-get update -q >/dev/null && RUNLEVEL=1 $sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; } \
  || { echo "rsyslog.sh: cannot install ${pkgs[*]} (run apt-get install ${pkgs[*]} as root)" >&2; exit 1; }
have || { echo "rsyslog.sh: rsyslog installed but its gtls or relp module is missing" >&2; exit 1; }

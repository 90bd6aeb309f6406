#!/usr/bin/env bash
# Make sure the Debian packages some targets need are installed: `ensure-packages.sh
# [--optional] COMMAND:PACKAGE ...`. Silent when every COMMAND is on the PATH (or in
# /usr/sbin); otherwise the missing PACKAGEs are installed with apt-get (as root, or with
# sudo that asks no password). Where that cannot be done: one line on stderr, exit 1 — or,
# with --optional, exit 0 and leave it to the tests that need the package to say they are
# skipped.
set -uo pipefail

optional=false
if [[ ${1:-} == --optional ]]; then
  optional=true
  shift
fi

missing=()
for pair in "$@"; do
  # Debian puts daemons (pgbouncer) in /usr/sbin, outside an ordinary user's PATH.
  PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
((${#missing[@]})) || exit 0

give_up() { # reason
  if $optional; then
    echo "note: ${missing[*]} not installed ($1); the tests that need it will say they are skipped" >&2
    exit 0
  fi
  echo "missing Debian package(s) ${missing[*]} ($1): install them with apt-get install ${missing[*]}" >&2
  exit 1
}

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  give_up "installing needs root"
fi
command -v apt-get >/dev/null || give_up "no apt-get on this machine"

install() {
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >/tmp/taskgate-apt.log 2>&1
}
echo "installing ${missing[*]} with apt-get" >&2
# A fresh machine may have no package lists yet: fetch them once and try again.
install || { "${as_root[@]}" apt-get update -q >>/tmp/taskgate-apt.log 2>&1 && install; } ||
  give_up "apt-get failed, see /tmp/taskgate-apt.log"

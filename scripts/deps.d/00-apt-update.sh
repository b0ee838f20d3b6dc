#!/usr/bin/env bash
# apt-get update once per machine boot, only if a later script will need apt.
# Other scripts call: source ./00-apt-update.sh && apt_install pkg...
set -euo pipefail
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ ! -f /tmp/.gatehouse-apt-updated ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    touch /tmp/.gatehouse-apt-updated
  fi
  echo "test-deps: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

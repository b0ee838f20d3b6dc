#!/usr/bin/env bash
# Runs every scripts/deps.d/*.sh in name order. Each installs one thing the
# tests need (apt packages, go-installed tools) and must be idempotent and quiet
# when the thing is already there.
set -euo pipefail
cd "$(dirname "$0")/deps.d"
shopt -s nullglob
for s in *.sh; do
  bash "$s"
done

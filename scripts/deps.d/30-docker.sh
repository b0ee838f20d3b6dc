#!/usr/bin/env bash
# A real Docker engine for the `gatehouse docker` tests: Debian's docker.io
# (dockerd, containerd, runc and the docker CLI) and busybox-static, from
# which the tests build a busybox image with `docker import` (no registry).
# The tests start and stop their own dockerd; nothing is started here.
set -euo pipefail
source ./00-apt-update.sh
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null || ! [ -x /bin/busybox ]; then
  apt_install docker.io busybox-static
fi

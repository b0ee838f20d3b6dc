#!/usr/bin/env bash
# apparmor_parser checks that the profiles in dist/apparmor parse
# (apparmor_parser -Q: parse and compile, load nothing into the kernel).
set -euo pipefail
source ./00-apt-update.sh
command -v apparmor_parser >/dev/null || [ -x /sbin/apparmor_parser ] || apt_install apparmor

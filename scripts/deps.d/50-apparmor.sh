#!/usr/bin/env bash
# apparmor_parser checks that the profiles in dist/apparmor parse
# (apparmor_parser -Q: parse and compile, load nothing into the kernel).
# Optional: where Debian's archive cannot be reached, TestProfilesParse
# says it did not run (and the rule checks of TestProfilesLeastPrivilege
# still do), rather than the whole test run failing here.
set -euo pipefail
source ./00-apt-update.sh
command -v apparmor_parser >/dev/null || [ -x /sbin/apparmor_parser ] && exit 0
if ! (apt_install apparmor) 2>/dev/null; then
  echo "test-deps: could not install apparmor (no package archive?): TestProfilesParse will not parse the profiles"
fi

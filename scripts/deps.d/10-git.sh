#!/usr/bin/env bash
# git is the go command's VCS tool and the private-module test server.
set -euo pipefail
source ./00-apt-update.sh
command -v git >/dev/null || apt_install git

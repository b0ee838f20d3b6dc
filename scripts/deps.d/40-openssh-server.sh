#!/usr/bin/env bash
# sshd on loopback serves git over ssh to the private-module tests.
set -euo pipefail
source ./00-apt-update.sh
[ -x /usr/sbin/sshd ] || apt_install openssh-server
# sshd refuses to start without its privilege separation directory.
if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi

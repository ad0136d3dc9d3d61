#!/usr/bin/env bash
# DynamoDB Local (the embedded stack's database and the integration tests') needs Java 17+.
# Installs Debian's openjdk-17-jre-headless when no java is on the PATH and we may use apt.
set -euo pipefail
if command -v java >/dev/null 2>&1; then exit 0; fi
echo "zapfleet: java not found; installing openjdk-17-jre-headless (needed by DynamoDB Local)" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "zapfleet: please install Java 17 (e.g. apt-get install openjdk-17-jre-headless)" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
command -v java >/dev/null 2>&1

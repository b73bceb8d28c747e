#!/usr/bin/env bash
# Installs everything qiusuo needs to build and test, from Debian packages (and the npm registry
# for the JavaScript test oracles). Idempotent: skips what is already there.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config
      nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      clang libclang-rt-14-dev python3 python3-jinja2)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

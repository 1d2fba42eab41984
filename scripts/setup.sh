#!/usr/bin/env bash
# Installs the Debian packages yopo needs to build and test. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake pkg-config libdnnl-dev libsentencepiece-dev libstb-dev
      nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libgtest-dev libgmock-dev
      libbenchmark-dev libomp-dev
      ocl-icd-opencl-dev)  # oneDNN's CMake config looks for OpenCL (libdnnl-dev only recommends it)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

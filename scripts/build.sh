#!/usr/bin/env bash
# Configures and builds yopo. Usage: scripts/build.sh [--sanitize] [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
SAN=OFF
if [ "${1:-}" = "--sanitize" ]; then SAN=ON; shift; fi
DIR=${1:-$([ "$SAN" = ON ] && echo build-san || echo build)}
TYPE=Release
[ "$SAN" = ON ] && TYPE=RelWithDebInfo
cmake -S . -B "$DIR" -DCMAKE_BUILD_TYPE=$TYPE -DYOPO_SANITIZE=$SAN -DYOPO_WERROR=ON >/dev/null
cmake --build "$DIR" -j"$(nproc)"

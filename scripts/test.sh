#!/usr/bin/env bash
# Installs what is needed, builds and runs the whole test suite with ctest.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: AddressSanitizer + UBSan build in build-san/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
SAN=""
DIR=build
if [ "${1:-}" = "--sanitize" ]; then SAN=--sanitize; DIR=build-san; fi
scripts/build.sh $SAN "$DIR"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ctest --test-dir "$DIR" --output-on-failure -j"$(nproc)"

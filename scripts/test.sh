#!/usr/bin/env bash
# Quick start 2: install dependencies, build, and run every test (CTest runs each
# GoogleTest case in its own process). With --sanitize, the same in an
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
if [[ ${1:-} == --sanitize ]]; then
  MMUSIM_BUILD_DIR=build-asan ./scripts/build.sh -DMMUSIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMUSIM_BUILD_BENCH=OFF
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
else
  ./scripts/build.sh
  ctest --test-dir build --output-on-failure -j "$(nproc)"
fi

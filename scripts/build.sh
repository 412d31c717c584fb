#!/usr/bin/env bash
# Configures and builds mmusim into build/ (or $MMUSIM_BUILD_DIR). Extra arguments
# go to CMake's configure step, e.g. -DMMUSIM_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MMUSIM_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja "$@" >/dev/null
cmake --build "$build"

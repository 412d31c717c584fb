#!/usr/bin/env bash
# Quick start 1: install dependencies, build, and run the flagship example, the
# fork copy-on-write scenario of shared/seeds/003 (traces/examples/fork-cow.trace).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
./build/mmusim run traces/examples/fork-cow.trace "$@"

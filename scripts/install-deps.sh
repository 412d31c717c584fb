#!/usr/bin/env bash
# Installs mmusim's build and test dependencies from Debian 12 packages.
# Idempotent: packages already present are skipped by apt-get; safe to run on every build.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsystemc-dev                                  # SystemC 2.3.4 + TLM-2.0 (pkg-config: systemc)
  libboost-program-options-dev libboost-iostreams-dev
  zlib1g-dev liblzma-dev libzstd-dev              # gz / xz / zst through Boost.Iostreams
  nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  valgrind                                        # mmusim-record runs programs under lackey
  time                                            # /usr/bin/time: peak memory in the streaming test
  clang libclang-rt-14-dev                        # libFuzzer targets of the trace readers
  python3 python3-matplotlib                      # tools/mmusim-plot
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

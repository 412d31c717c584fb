#!/usr/bin/env bash
# Builds the trace readers' libFuzzer targets with clang and runs each for a bounded
# time, seeded with the example traces (and their binary conversions when a build of
# mmusim exists). Exits non-zero if any target finds a crash, a leak or a hang.
#
#   ./scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${MMUSIM_FUZZ_DIR:-build-fuzz}
[[ ${MMUSIM_SKIP_DEPS:-} ]] || ./scripts/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMUSIM_FUZZ=ON \
  -DMMUSIM_BUILD_BENCH=OFF > /dev/null
cmake --build "$build" --target fuzz_text_reader fuzz_binary_reader fuzz_lackey_reader fuzz_champsim_reader
corpus="$build/corpus"
rm -rf "$corpus" && mkdir -p "$corpus/text" "$corpus/binary" "$corpus/lackey" "$corpus/champsim"
cp traces/examples/*.trace tests/traces/*.trace "$corpus/text/"
for mmusim in build/mmusim build-asan/mmusim; do
  [[ -x $mmusim ]] || continue
  for t in traces/examples/*.trace; do "$mmusim" convert --quiet "$t" "$corpus/binary/$(basename "$t").mmut" || true; done
  break
done
printf 'I  0401ab70,3\n S 1fff000628,8\n L 1fff000620,8\n M 0402c000,4\n' > "$corpus/lackey/sample"
head -c 640 /dev/urandom > "$corpus/champsim/sample"
status=0
for f in text binary lackey champsim; do
  echo "== fuzz_${f}_reader: ${seconds}s"
  "$build/fuzz/fuzz_${f}_reader" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/crash-$f-" "$corpus/$f" 2>&1 | tail -n 3 || status=1
done
exit $status

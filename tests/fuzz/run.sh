#!/usr/bin/env bash
# Fuzzes the front end with libFuzzer for a bounded time, as CI does: builds
# build-fuzz/ with clang and the sanitizers, runs fuzz_policy on a copy of the
# seed corpus (the committed one never grows) and fails on any crash, sanitizer
# report, leak or timeout, printing the reproducer.
#
#   STEER_FUZZ_SECONDS=N   how long to fuzz (default 60)
#   STEER_FUZZ_JOBS=N      parallel fuzzing processes (default 1)
#
# Exit status: 0 nothing found, 1 libFuzzer found a bug, 2 the build failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

seconds=${STEER_FUZZ_SECONDS:-60}
jobs=${STEER_FUZZ_JOBS:-1}
dir=build-fuzz
fuzzer=$root/$dir/tests/fuzz/fuzz_policy
artifacts=$root/$dir/fuzz-artifacts

if ! command -v clang >/dev/null; then
	echo "fuzz_policy: clang is not installed (scripts/deps.sh installs it)" >&2
	exit 2
fi
opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DSTEER_FUZZ=ON -DSTEER_SANITIZE=ON -DSTEER_TESTS=OFF)
[ "${CI:-}" = true ] && opts+=(-DSTEER_WERROR=ON)
# Only the harness and the library it drives: the runtime and the CLI are not fuzzed.
if ! { cmake -S . -B "$dir" "${opts[@]}" >/dev/null && cmake --build "$dir" -j "$(nproc)" --target fuzz_policy >/dev/null; }; then
	echo "fuzz_policy: the build in $dir failed" >&2
	exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp tests/fuzz/corpus/* "$work/corpus/"
rm -f "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/slow-unit-*

fuzz_args=(-dict="$root/tests/fuzz/steer.dict" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048
	-artifact_prefix="$artifacts/" -print_final_stats=1)
[ "$jobs" -gt 1 ] && fuzz_args+=(-jobs="$jobs" -workers="$jobs")
log=$work/log
start=$SECONDS
# In the work directory: with -jobs, each worker writes its fuzz-N.log there.
(cd "$work" && UBSAN_OPTIONS=print_stacktrace=1 "$fuzzer" "${fuzz_args[@]}" corpus >"$log" 2>&1)
status=$?
cat "$work"/fuzz-*.log >>"$log" 2>/dev/null
elapsed=$((SECONDS - start))

runs=$(grep -h '^stat::number_of_executed_units:' "$log" | awk '{ n += $2 } END { print n + 0 }')
cov=$(grep -ohE '(^|[[:space:]])cov: [0-9]+' "$log" | awk '{ print $2 }' | sort -n | tail -n 1)
found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)

if [ "$status" -ne 0 ] || [ -n "$found" ]; then
	echo "fuzz_policy: libFuzzer found a bug (exit status $status) after $runs runs in $elapsed s" >&2
	grep -E -A 40 '^==[0-9]+==|runtime error:|ERROR: libFuzzer|oracle failed' "$log" | head -n 80 >&2
	if [ -n "$found" ]; then
		echo "fuzz_policy: reproducer: $found" >&2
		echo "fuzz_policy: rerun it with: $fuzzer $found" >&2
		echo "----- input as text -----" >&2
		cat -v "$found" >&2
		echo >&2
		echo "-------------------------" >&2
	else
		tail -n 20 "$log" >&2
	fi
	exit 1
fi
echo "fuzz_policy: $runs runs in $elapsed s (cov: ${cov:-?}), no crash"

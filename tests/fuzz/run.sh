#!/usr/bin/env bash
# Fuzzes with libFuzzer for a bounded time, as CI does: builds build-fuzz/ with
# clang and the sanitizers, runs each harness (fuzz_policy on the front end,
# fuzz_firstbytes on the proxy's first-bytes scanners) on a copy of its seed
# corpus (the committed one never grows) and fails on any crash, sanitizer
# report, leak or timeout, printing the reproducer.
#
#   STEER_FUZZ_SECONDS=N   how long to fuzz each harness (default 60)
#   STEER_FUZZ_JOBS=N      parallel fuzzing processes (default 1)
#
# Exit status: 0 nothing found, 1 libFuzzer found a bug, 2 the build failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

seconds=${STEER_FUZZ_SECONDS:-60}
jobs=${STEER_FUZZ_JOBS:-1}
dir=build-fuzz
harnesses=(fuzz_policy fuzz_firstbytes)

if ! command -v clang >/dev/null; then
	echo "fuzz: clang is not installed (scripts/deps.sh installs it)" >&2
	exit 2
fi
opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DSTEER_FUZZ=ON -DSTEER_SANITIZE=ON -DSTEER_TESTS=OFF)
[ "${CI:-}" = true ] && opts+=(-DSTEER_WERROR=ON)
# Only the harnesses and the libraries they drive: the CLI is not fuzzed.
if ! { cmake -S . -B "$dir" "${opts[@]}" >/dev/null &&
	cmake --build "$dir" -j "$(nproc)" --target "${harnesses[@]}" >/dev/null; }; then
	echo "fuzz: the build in $dir failed" >&2
	exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fuzz NAME SEEDS ARGS...: one harness on a copy of the files in SEEDS; 0 nothing found, 1 a bug.
fuzz() {
	local name=$1 seeds=$2
	shift 2
	local fuzzer=$root/$dir/tests/fuzz/$name artifacts=$root/$dir/fuzz-artifacts/$name
	local corpus=$work/$name/corpus log=$work/$name/log

	mkdir -p "$corpus" "$artifacts"
	find "$seeds" -maxdepth 1 -type f -exec cp -t "$corpus" {} +
	rm -f "$artifacts"/{crash,leak,timeout,oom,slow-unit}-*

	local fuzz_args=("$@" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/"
		-print_final_stats=1)
	[ "$jobs" -gt 1 ] && fuzz_args+=(-jobs="$jobs" -workers="$jobs")
	local start=$SECONDS status
	# In the harness's work directory: with -jobs, each worker writes its fuzz-N.log there.
	(cd "$work/$name" && UBSAN_OPTIONS=print_stacktrace=1 "$fuzzer" "${fuzz_args[@]}" corpus >"$log" 2>&1)
	status=$?
	cat "$work/$name"/fuzz-*.log >>"$log" 2>/dev/null
	local elapsed=$((SECONDS - start)) runs cov found

	runs=$(grep -h '^stat::number_of_executed_units:' "$log" | awk '{ n += $2 } END { print n + 0 }')
	cov=$(grep -ohE '(^|[[:space:]])cov: [0-9]+' "$log" | awk '{ print $2 }' | sort -n | tail -n 1)
	found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' \) | head -n 1)

	if [ "$status" -ne 0 ] || [ -n "$found" ]; then
		echo "$name: libFuzzer found a bug (exit status $status) after $runs runs in $elapsed s" >&2
		grep -E -A 40 '^==[0-9]+==|runtime error:|ERROR: libFuzzer|oracle failed' "$log" | head -n 80 >&2
		if [ -n "$found" ]; then
			echo "$name: reproducer: $found" >&2
			echo "$name: rerun it with: $fuzzer $found" >&2
			echo "----- input as text -----" >&2
			cat -v "$found" >&2
			echo >&2
			echo "-------------------------" >&2
		else
			tail -n 20 "$log" >&2
		fi
		return 1
	fi
	echo "$name: $runs runs in $elapsed s (cov: ${cov:-?}), no crash"
}

result=0
fuzz fuzz_policy tests/fuzz/corpus -dict="$root/tests/fuzz/steer.dict" -max_len=4096 || result=1
# Long enough for a ClientHello over several records up to the scanner's 16 KiB bound.
fuzz fuzz_firstbytes tests/fuzz/corpus/firstbytes -max_len=20480 || result=1
exit $result

#!/usr/bin/env bash
# Runs every benchmark and writes docs/benchmarks.md with docs/bench/*.png:
#   1. steer check: wall time and peak RSS at 10k, 100k, 1M rules;
#   2. lookup: ns per sk_lookup run (BPF_PROG_TEST_RUN) for the floors (empty,
#      minimal), steer and a tubular-style baseline, per size and prefix mix;
#   3. compile and apply: wall time and peak RSS per size.
# Everything that touches the kernel runs in a private network and mount
# namespace. Needs root.
#
#   BENCH_SIZES="1 64 1000 10000 100000 1000000"   sizes (rules)
#   BENCH_QUICK=1                                    sizes 1 64 1000, 2 runs
#   BENCH_BUILD=DIR                                  build directory (build)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${BENCH_INSIDE:-} != 1 ]]; then
	./scripts/deps.sh
	./scripts/build.sh "${BENCH_BUILD:-build}"
	[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (namespaces, BPF)" >&2; exit 2; }
	BENCH_INSIDE=1 exec unshare --net --mount --propagation private "$0" "$@"
fi

build=${BENCH_BUILD:-build}
sizes=${BENCH_SIZES:-1 64 1000 10000 100000 1000000}
runs=5
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	sizes="1 64 1000"
	runs=2
fi
out=docs/benchmarks.md
data=docs/bench
mkdir -p "$data"
tmp=$(mktemp -d)
trap 'umount "$tmp/bpffs" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bpffs"
mount -t bpf bpf "$tmp/bpffs"
ip link set lo up

# peak RSS (KB) and wall time (s) of a command: "SECONDS KB"
measure() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -n 1; }

policy() { # MIX N -> path
	local f=$tmp/$1-$2.steer
	[[ -f $f ]] || "$build/genpolicy" "$2" --mix "$1" --seed 1 >"$f"
	echo "$f"
}

echo "==> lookup"
: >"$data/lookup.tsv"
for mix in anycast random; do
	for n in $sizes; do
		p=$(policy "$mix" "$n")
		echo "  $mix $n"
		"$build/lookup" "$p" "$build/bench/floor.bpf.o" "$build/bench/tubular.bpf.o" --runs "$runs" 2>"$tmp/lookup.err" |
			sed "s/^/$mix\t$n\t/" >>"$data/lookup.tsv" || { cat "$tmp/lookup.err" >&2; }
	done
done

echo "==> check, compile, apply"
: >"$data/build.tsv"
for n in $sizes; do
	[[ $n -ge 1000 ]] || continue
	p=$(policy anycast "$n")
	c=$(measure "$build/steer" check "$p")
	o=$(measure "$build/steer" compile "$p" -o "$tmp/p.o")
	a=$(measure "$build/steer" apply --bpffs "$tmp/bpffs" "$p")
	"$build/steer" detach --bpffs "$tmp/bpffs" >/dev/null
	printf '%s\t%s\t%s\t%s\n' "$n" "$c" "$o" "$a" | tr ' ' '\t' >>"$data/build.tsv"
	echo "  $n: check $c, compile $o, apply $a"
done

bash bench/report.sh "$data" >"$out"
echo "wrote $out"

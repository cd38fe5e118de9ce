#!/usr/bin/env bash
# Runs every benchmark and writes docs/benchmarks.md with docs/bench/*.png:
#   1. steer check: wall time and peak RSS at 10k, 100k, 1M rules;
#   2. lookup: ns per sk_lookup run (BPF_PROG_TEST_RUN) for the floors (empty,
#      minimal, lpm), steer and a tubular-style baseline, per size, mix and
#      family, with the pages and cache lines steer reads per lookup;
#   3. connection rate: TCP connections and UDP datagrams per second through
#      loopback with no program, the minimal one and steer at 100k rules;
#   4. compile and apply (from the text, and of the built policy): wall time and peak RSS per size and mix;
#   5. monitor: bench/monitor.sh (what steer monitor costs), which writes
#      docs/bench/monitor*.tsv and docs/bench/monitor.md, the "Monitor cost"
#      section report.sh copies in (its own BENCH_* settings; not BENCH_SIZES).
# The mixes: anycast and random (bench/genpolicy.c), routes (bench/genroutes.c).
# Everything that touches the kernel runs in a private network and mount
# namespace. Needs root.
#
#   BENCH_SIZES="1 64 1000 10000 100000 1000000"   sizes (rules)
#   BENCH_QUICK=1                                    sizes 1 64 1000, 2 runs;
#                                                    connection rate at 1000 rules, short
#   BENCH_BUILD=DIR                                  build directory (build)
#   BENCH_ONLY="lookup connrate build monitor"       the sections to run (default all);
#                                                    the others' TSV files are kept
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
conn_rules=100000 conn_rounds=100 conn_seconds=0.25
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	sizes="1 64 1000"
	runs=2
	conn_rules=1000 conn_rounds=3 conn_seconds=0.25
fi
only=" ${BENCH_ONLY:-lookup connrate build monitor} "
want() { [[ $only == *" $1 "* ]]; }
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

mixes="anycast random routes"
policy() { # MIX N -> path
	local f=$tmp/$1-$2.steer
	if [[ ! -f $f ]]; then
		if [[ $1 == routes ]]; then
			"$build/genroutes" "$2" --seed 1 >"$f"
		else
			"$build/genpolicy" "$2" --mix "$1" --seed 1 >"$f"
		fi
	fi
	echo "$f"
}

if want lookup; then
	echo "==> lookup"
	# bench/lookup.c times the programs interleaved, per family, the cycled
	# figures from the run-time statistics (report.sh knows the format by these lines).
	printf '#order\tinterleaved\n#cycled\trun_time\n' >"$data/lookup.tsv"
	for mix in $mixes; do
		for n in $sizes; do
			p=$(policy "$mix" "$n")
			echo "  $mix $n"
			"$build/lookup" "$p" "$build/bench/floor.bpf.o" "$build/bench/tubular.bpf.o" "$build/bench/lpm.bpf.o" \
				--runs "$runs" 2>"$tmp/lookup.err" |
				sed "s/^/$mix\t$n\t/" >>"$data/lookup.tsv" || { cat "$tmp/lookup.err" >&2; }
		done
	done
fi

if want connrate; then
	# connrate opens the servers (tcp 127.0.0.1:8401, udp 127.0.0.1:8453), runs
	# the setup (apply, then register both sockets by their declared
	# addresses), takes steer's program and attaches none, minimal and steer
	# in turn. The first rules steer the servers' own addresses (the
	# destination of every mode) and the probe's (127.97.0.0/24) to them.
	echo "==> connection rate ($conn_rules rules, $conn_rounds rounds of ${conn_seconds} s per mode and protocol)"
	p=$tmp/connrate.steer
	{
		echo "service web = tcp 127.0.0.1:8401"
		echo "service dns = udp 127.0.0.1:8453"
		echo "match tcp dst 127.0.0.1 port 8401 -> service web"
		echo "match udp dst 127.0.0.1 port 8453 -> service dns"
		echo "match tcp dst 127.97.0.0/24 port 80 -> service web"
		echo "match udp dst 127.97.0.0/24 port 53 -> service dns"
		cat "$(policy anycast "$conn_rules")"
	} >"$p"
	st="$build/steer"
	b="--bpffs $tmp/bpffs"
	setup="$st apply $b $p && $st register web --auto $b && $st register dns --auto $b"
	setup="($setup) >$tmp/apply.log 2>&1"
	if "$build/connrate" --floor "$build/bench/floor.bpf.o" --steer-state "$tmp/bpffs" --setup "$setup" \
		--rounds "$conn_rounds" --seconds "$conn_seconds" >"$tmp/connrate.tsv" 2>"$tmp/connrate.err"; then
		{
			printf '#rules\t%s\n' "$(grep -c '^match' "$p")"
			cat "$tmp/connrate.tsv"
		} >"$data/connrate.tsv"
		grep -v '^round' "$tmp/connrate.err" | sed 's/^/  /'
	else
		cat "$tmp/connrate.err" "$tmp/apply.log" >&2
		echo "bench: connrate failed; $data/connrate.tsv left as it was" >&2
	fi
	"$st" detach $b >/dev/null 2>&1 || true
fi

if want build; then
	echo "==> check, compile, apply"
	: >"$data/build.tsv"
	for mix in $mixes; do
		for n in $sizes; do
			[[ $n -ge 1000 ]] || continue
			p=$(policy "$mix" "$n")
			# A step that fails leaves its policy out (said on stderr); the others are still measured.
			if ! { c=$(measure "$build/steer" check "$p") && o=$(measure "$build/steer" compile "$p" -o "$tmp/p.built") &&
				a=$(measure "$build/steer" apply --bpffs "$tmp/bpffs" "$p") &&
				"$build/steer" detach --bpffs "$tmp/bpffs" >/dev/null &&
				# What a fleet host pays: the built policy, without the front end or clang.
				ab=$(measure "$build/steer" apply --bpffs "$tmp/bpffs" "$tmp/p.built") &&
				"$build/steer" detach --bpffs "$tmp/bpffs" >/dev/null; }; then
				echo "  $mix $n: FAILED (check, compile or apply: run them by hand to see why)" >&2
				"$build/steer" detach --bpffs "$tmp/bpffs" >/dev/null 2>&1 || true
				continue
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mix" "$n" "$c" "$o" "$a" "$ab" | tr ' ' '\t' >>"$data/build.tsv"
			echo "  $mix $n: check $c, compile $o, apply $a, apply built $ab"
		done
	done
	# One huge set, as a blocklist is written: the parser's worst case.
	: >"$data/blocklist.tsv"
	for n in 100000 1000000; do
		c=$(measure "$build/steer" check "$(policy blocklist "$n")")
		printf '%s\t%s\n' "$n" "$c" | tr ' ' '\t' >>"$data/blocklist.tsv"
		echo "  a set of $n sources: check $c"
	done
fi

if want monitor; then
	# Already in this namespace; BENCH_ONLY and BENCH_SIZES are this script's, not its parts and sizes.
	env -u BENCH_ONLY -u BENCH_SIZES BENCH_INSIDE=1 BENCH_BUILD="$build" bash bench/monitor.sh ||
		echo "bench: monitor.sh failed; $data/monitor*.tsv and monitor.md left as they were" >&2
fi

bash bench/report.sh "$data" >"$out"
echo "wrote $out"

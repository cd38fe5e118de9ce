#!/usr/bin/env bash
# Turns bench/run.sh's TSV files into docs/benchmarks.md (stdout) and PNG plots.
#   bash bench/report.sh DATA_DIR
set -euo pipefail
data=$1

cat <<HDR
# Benchmarks

Reproduce: \`sudo bench/run.sh\` (one command: builds, generates the policies
with \`build/genpolicy N --mix anycast|random --seed 1\`, runs everything in a
private network namespace and rewrites this file and \`docs/bench/*.png\`).

Machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; $(date -u +%Y-%m-%d).

## Lookup cost

\`bench/lookup.c\`: nanoseconds per run of each program with BPF_PROG_TEST_RUN on
the same 4096 contexts (three quarters hit a rule, the rest random; IPv4 and
IPv6; TCP and UDP), all four programs in one process, one after the other:

- **empty**: \`return SK_PASS\` — the cost of running any program;
- **minimal**: one sockmap lookup by protocol and family, \`bpf_sk_assign\`,
  release — the floor of any steering program;
- **steer**: the program \`steer apply\` would load (strategy auto);
- **tubular**: a tubular-style baseline written from its published design
  (\`bench/tubular.bpf.c\`): one LPM trie keyed by protocol, port and prefix,
  exact port then wildcard port, then a sockmap; loaded with every service
  rule it can express (destination prefixes, single ports or sets of at most
  128 ports expanded, no source).

Figures: **hot** is the kernel's average over 20000 repeats of one context,
for 64 contexts; **cycled** runs each of the 4096 contexts once in turn, so one
context's data is cold for the next (and the kernel's timer, read around each
single run, is included: the same for every program). Each figure is the
median of several runs, with min–max.
HDR

for mode in hot cycled; do
	for mix in anycast random; do
		echo
		echo "### $mode, $mix mix (ns per lookup: median, min–max)"
		echo
		echo "| rules | empty | minimal | steer | tubular | steer / minimal | steer / tubular |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		awk -F'\t' -v mode="$mode" -v mix="$mix" '
			$1 == mix && $4 == mode { v[$2, $3] = $5; r[$2, $3] = $6 "–" $7; n[$2] = 1 }
			END {
				for (k in n) sizes[++c] = k + 0
				for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (sizes[j] < sizes[i]) { t = sizes[i]; sizes[i] = sizes[j]; sizes[j] = t }
				for (i = 1; i <= c; i++) {
					s = sizes[i]
					printf "| %d | %s | %s (%s) | %s (%s) | %s (%s) | %.2f | %.2f |\n", s, v[s, "empty"],
						v[s, "minimal"], r[s, "minimal"], v[s, "steer"], r[s, "steer"], v[s, "tubular"], r[s, "tubular"],
						v[s, "steer"] / v[s, "minimal"], v[s, "steer"] / v[s, "tubular"]
				}
			}' "$data/lookup.tsv"
		echo
		echo "![$mode $mix](bench/lookup-$mode-$mix.png)"
		awk -F'\t' -v mode="$mode" -v mix="$mix" '$1 == mix && $4 == mode { print $2, $3, $5 }' "$data/lookup.tsv" |
			sort -n >"$data/.plot"
		gnuplot <<GP 2>/dev/null || true
set terminal pngcairo size 720,420 noenhanced
set output "$data/lookup-$mode-$mix.png"
set title "ns per lookup ($mode, $mix mix)"
set logscale x
set xlabel "rules"
set ylabel "ns"
set key top left
set yrange [0:*]
plot for [p in "empty minimal steer tubular"] "< awk '\$2 == \"".p."\"' $data/.plot" using 1:3 with linespoints title p
GP
		rm -f "$data/.plot"
	done
done

cat <<'TXT'

## Check, compile and apply

Wall time and peak RSS (`/usr/bin/time`) on the anycast mix: `steer check`,
`steer compile -o` (front end with lints, table build, clang), `steer apply`
(the same, then load, fill the data map through mmap, attach), each from scratch.

| rules | check | check RSS | compile | compile RSS | apply | apply RSS |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
TXT
awk -F'\t' '{ printf "| %d | %.2f s | %d MB | %.2f s | %d MB | %.2f s | %d MB |\n", $1, $2, $3 / 1024, $4, $5 / 1024, $6, $7 / 1024 }' "$data/build.tsv"

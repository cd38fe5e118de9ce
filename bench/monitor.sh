#!/usr/bin/env bash
# What steer monitor costs (docs/benchmarks.md, "Monitor cost"), in a private
# network and mount namespace with a bpffs of its own. Needs root.
#
#   1. lookup: ns per sk_lookup run (bench/lookup.c, BPF_PROG_TEST_RUN) of
#      steer's program with no monitor attached, against the same policy's
#      program built without monitor support: `steer compile POLICY --emit c`
#      compiled by clang with -DSTEER_NO_MONITOR and the arguments
#      compiler/clang.c gives it ("nomonitor"); against a second copy of
#      steer's own object (`steer compile --emit obj`, "steer-again"), the
#      control: same code, so its ratio is what the method cannot resolve; and
#      with a monitor attached ("steer+monitor": active bit, lease, empty
#      filter, a ring buffer drained between runs, every event checked).
#      Interleaved rounds; per policy mix and size.
#   2. rate: the real `steer monitor` on an applied policy while UDP datagrams
#      arrive at a registered socket at fixed rates (and as fast as one CPU
#      sends them), for each output (--json to /dev/null, --json to a file,
#      text to a file) and ring buffer size: decisions made (the program's
#      counters, `steer metrics`), events shown (lines written), events lost
#      (steer_monitor_events_lost_total, and the monitor's own not_shown
#      lines), decisions neither shown nor counted lost, the monitor's CPU
#      time (and its time runnable but waiting for a CPU), how long it went on draining after the traffic stopped, and the
#      longest stretch of the traffic without an event shown (their time stamps).
#   3. lease: longer runs the monitor falls behind in (at 200000 and 400000
#      datagrams/s), the lease of its slot in the monitor map sampled every
#      0.2 s while the traffic lasts: shown + lost must equal decisions.
#
# Writes docs/bench/monitor-lookup.tsv, docs/bench/monitor-rate.tsv,
# docs/bench/monitor-lease.tsv and docs/bench/monitor.md: the "Monitor cost"
# section, prose and tables, which bench/report.sh copies into
# docs/benchmarks.md. A policy whose programs fail to load is recorded as
# such (#error) and the rest still measured.
#
#   BENCH_BUILD=DIR          build directory (build)
#   BENCH_ONLY="lookup rate lease"  the parts to run (default all; the others' TSVs are kept)
#   BENCH_MIXES="anycast random"  BENCH_SIZES="64 100000"  BENCH_ROUNDS=31   (lookup)
#   BENCH_RATES="10000 50000 100000 150000 200000 300000 400000 max"
#   BENCH_SECONDS=5          seconds of traffic per rate
#   BENCH_BUFFERS="1M 16M"   steer monitor --buffer
#   BENCH_SINKS="json-null json-file text-file"
#   BENCH_RATE_RULES=1000    generated rules after the benchmark's own (rate, lease)
#   BENCH_LEASE_RATE="200000 400000" BENCH_LEASE_BUFFER=16M BENCH_LEASE_SINK=json-file
#                            the lease runs, one per rate (BENCH_SECONDS + 3 s of traffic each)
#   BENCH_QUICK=1            64 rules, 5 rounds; rates 10000 100000 max, 2 s, 1M, json-null
#   BENCH_REPORT_ONLY=1      only rewrite docs/bench/monitor.md from the TSVs (no root)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BENCH_BUILD:-build}
data=docs/bench
mkdir -p "$data"

# ---- the report: docs/bench/monitor.md from the TSVs alone ----
# docs/bench/monitor.md is the "Monitor cost" section of docs/benchmarks.md:
# bench/report.sh copies it there. The prose is here, the figures and what
# they meet or miss come from the TSVs.
report() {
	local machine_l machine_r where
	machine_l=$(grep -m1 '^#machine' "$data/monitor-lookup.tsv" 2>/dev/null | cut -f2-)
	machine_r=$(grep -m1 '^#machine' "$data/monitor-rate.tsv" 2>/dev/null | cut -f2-)
	where="${machine_l:-?} (lookup) and ${machine_r:-?} (rate, lease)"
	[[ $machine_l != "$machine_r" ]] || where=$machine_l
	{
		echo "<!-- written by bench/monitor.sh from monitor-lookup.tsv, monitor-rate.tsv and monitor-lease.tsv; bench/report.sh copies it into docs/benchmarks.md -->"
		cat <<TXT
## Monitor cost

What \`steer monitor\` costs the lookups, and how many decisions a second it
shows without losing any. Reproduce with \`sudo bash bench/monitor.sh\` (about
8 minutes after the build; \`BENCH_BUILD=DIR\` picks the build tree,
\`BENCH_ONLY="lookup rate lease"\` the parts), or \`sudo bench/run.sh\` with
\`BENCH_ONLY=monitor\`. It writes \`docs/bench/monitor-lookup.tsv\` (every
round's figure), \`monitor-rate.tsv\`, \`monitor-lease.tsv\` and this section,
\`docs/bench/monitor.md\`, which \`bench/report.sh\` copies into
\`docs/benchmarks.md\`. Measured on ${where}. That may not be the machine of the sections
above (see their Machine line): compare the figures here with each other.
Every part runs in a private network and mount namespace with its own bpffs.
TXT
		if [[ -f $data/monitor-lookup.tsv ]]; then
			cat <<'TXT'

### With no monitor attached

Target: steer's program costs at most 2 % more than the same program built
without monitor support. Measured with `bench/lookup.c` (BPF_PROG_TEST_RUN, as
in "Lookup cost"), whose `--variant NAME=OBJ.o` loads the same built policy
(manifest, table data, load-time constants, the same sockets) again with its
object replaced, refused unless it decides every context exactly as steer
does. Per policy (genpolicy `--seed 1`, anycast and random mixes, 64 rules:
tree strategy; 100000 rules: table strategy) three programs besides the floors
and the baseline:

- **steer**: the program `steer apply` loads. Every leaf of the decision
  returns one decision word, and the program's single exit counts the rule,
  counts a miss when there is one, and reads `steer_monitors_active`, a word
  in the program's .bss that the loader shares between programs: with no
  monitor attached, each decision pays that load and a branch.
  `steer_monitor_out()` is out of line and not run;
- **nomonitor**: the same generated C compiled without that check, with the
  arguments `compiler/clang.c` gives clang:

  ```
  build/steer compile POLICY --emit c -o p.c
  clang -target bpf -O2 -g -Wall -Wno-unused-function -I/usr/include/x86_64-linux-gnu \
        -DSTEER_NO_MONITOR -c p.c -o p-nomon.o
  ```

  (`bench/monitor.sh` checks that the same command without `-D` makes
  byte-for-byte steer's code sections, and that `steer_monitor_out` is gone);
- **steer-again**: steer's own object (`steer compile --emit obj`) loaded a
  second time: the control. Its code is steer's, so steer / steer-again is
  what this method cannot tell apart from zero.

```
build/lookup POLICY build/bench/floor.bpf.o build/bench/tubular.bpf.o build/bench/lpm.bpf.o --runs 31 \
      --variant steer-again=p-steer.o --variant nomonitor=p-nomon.o --monitor
```

The VM's speed drifts by ±30 % within seconds, so lookup interleaves the
programs finely: hot, every program in turn on each context (about 1 ms per
call of 20000 runs); cycled, every program in turn on each block of 256
contexts of one family, the families alternating, timed by the kernel's BPF
run-time statistics (the program's own run time, see "Lookup cost"); each
context or block starting with the next program. A round is one pass; 31
rounds. The figures are over the contexts of both families (lookup's `all`
lines), medians over the rounds (min–max), the ratios the median of each
round's own ratio with its 95 % confidence interval (order statistics).

TXT
			echo "| mix | rules | figure | steer | nomonitor | steer-again | steer / nomonitor | steer-again / nomonitor | steer / steer-again (control) |"
			echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
			awk -F'\t' '
				$1 ~ /^#/ { next }
				!(($1, $2) in seen) { seen[$1, $2] = 1; order[++n] = $1 SUBSEP $2 }
				$3 == "#error" { err[$1, $2] = $4; next }
				$3 == "#ratio" { r[$1, $2, $4, $5] = sprintf("%.3f [%.3f, %.3f]", $6, $7, $8); next }
				$3 ~ /^#/ { next }
				{ v[$1, $2, $3, $4] = sprintf("%s (%s–%s)", $5, $6, $7) }
				END {
					for (i = 1; i <= n; i++) for (m = 1; m <= 2; m++) {
						split(order[i], k, SUBSEP); mode = m == 1 ? "hot" : "cycled"
						if ((k[1], k[2]) in err) {
							if (m == 1) printf "| %s | %s | – | not measured (below) | | | | | |\n", k[1], k[2]
							continue
						}
						printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k[1], k[2], mode, v[k[1], k[2], "steer", mode],
							v[k[1], k[2], "nomonitor", mode], v[k[1], k[2], "steer-again", mode],
							r[k[1], k[2], "steer/nomonitor", mode], r[k[1], k[2], "steer-again/nomonitor", mode],
							r[k[1], k[2], "steer/steer-again", mode]
					}
				}' "$data/monitor-lookup.tsv"
			echo
			echo "Against the target (steer / nomonitor ≤ 1.02; met when the whole interval is at or below"
			echo "1.02, missed when it is all above, otherwise not resolved by this run):"
			echo
			awk -F'\t' '
				$1 ~ /^#/ { next }
				!(($1, $2) in seen) { seen[$1, $2] = 1; order[++n] = $1 SUBSEP $2 }
				$3 == "#error" { err[$1, $2] = $4; next }
				$3 == "#verified" { ver[$1, $2, $4] = $5; next }
				$3 == "#ratio" { m[$1, $2, $4, $5] = $6; lo[$1, $2, $4, $5] = $7; hi[$1, $2, $4, $5] = $8 }
				END {
					for (i = 1; i <= n; i++) {
						split(order[i], k, SUBSEP)
						if ((k[1], k[2]) in err) {
							printf "- %s, %s rules: **not measured**: steer'"'"'s program does not load (`%s`).%s\n", k[1], k[2], err[k[1], k[2]],
								ver[k[1], k[2], "steer"] != "" ? sprintf(" The verifier processed %s instructions for steer'"'"'s object, %s for nomonitor'"'"'s.", ver[k[1], k[2], "steer"], ver[k[1], k[2], "nomonitor"]) : ""
							failed = 1
							continue
						}
						line = ""
						for (j = 1; j <= 2; j++) {
							mode = j == 1 ? "hot" : "cycled"; x = m[k[1], k[2], "steer/nomonitor", mode]
							a = lo[k[1], k[2], "steer/nomonitor", mode]; b = hi[k[1], k[2], "steer/nomonitor", mode]
							verdict = b <= 1.02 && a > 0 ? "met" : a > 1.02 ? sprintf("**missed** by %.1f points", 100 * (x - 1.02)) : \
								x <= 1.02 ? sprintf("met by the median, not resolved (the interval reaches %.3f)", b) : \
								sprintf("**missed** by the median (%.1f points), not resolved (the interval reaches down to %.3f)", 100 * (x - 1.02), a)
							line = line sprintf("%s%s %.3f [%.3f, %.3f]: %s", j == 1 ? "" : "; ", mode, x, a, b, verdict)
						}
						printf "- %s, %s rules: %s. Control: hot %.3f [%.3f, %.3f], cycled %.3f [%.3f, %.3f].\n", k[1], k[2], line,
							m[k[1], k[2], "steer/steer-again", "hot"], lo[k[1], k[2], "steer/steer-again", "hot"], hi[k[1], k[2], "steer/steer-again", "hot"],
							m[k[1], k[2], "steer/steer-again", "cycled"], lo[k[1], k[2], "steer/steer-again", "cycled"], hi[k[1], k[2], "steer/steer-again", "cycled"]
					}
					if (failed)
						print "\nWhere steer'"'"'s program does not load, the verifier gave up. `steer_monitor_out()` is a static subprogram, so the verifier checks it again for every state it is called in; the decision word is a different constant at each leaf, so the states reaching the single exit do not merge, and the whole of `steer_monitor_out()` (a loop over the 8 monitor slots, each with its filter tests) is verified once per leaf. The table strategy has few leaves and loads, at many times the verification work of nomonitor (below); the tree strategy has one leaf per rule and outcome and passes the verifier'"'"'s limit of 1000000 instructions early: checked by hand on 2026-12-02, `steer apply` took genpolicy'"'"'s anycast mix at 8 rules (442682 instructions processed) and refused it at 16, 32, 48 and 64."
				}' "$data/monitor-lookup.tsv"
			echo
			echo "Code size (BPF instructions in the object: the program and its subprograms), and the"
			echo "instructions the kernel's verifier processed to load it (the object loaded alone by libbpf;"
			echo "its limit is 1000000: 1000001 means it refused the program as too large):"
			echo
			echo "| mix | rules | steer | nomonitor | verifier: steer | verifier: nomonitor |"
			echo "| --- | ---: | ---: | ---: | ---: | ---: |"
			awk -F'\t' '$1 !~ /^#/ && ($3 == "#code" || $3 == "#verified") { c[$1, $2, $3, $4] = $5; if (!(($1, $2) in seen)) { seen[$1, $2] = 1; order[++n] = $1 SUBSEP $2 } }
				function f(x) { return x == "" ? "–" : x }
				END {
					for (i = 1; i <= n; i++) {
						split(order[i], k, SUBSEP)
						printf "| %s | %s | %s | %s | %s | %s |\n", k[1], k[2], f(c[k[1], k[2], "#code", "steer"]), f(c[k[1], k[2], "#code", "nomonitor"]),
							f(c[k[1], k[2], "#verified", "steer"]), f(c[k[1], k[2], "#verified", "nomonitor"])
					}
				}' "$data/monitor-lookup.tsv"
			cat <<'TXT'

Before the single exit (run of 2026-12-02, the monitor check inlined at every
leaf): steer / nomonitor was 1.025–1.033 hot (every interval above 1.02 but
anycast 100000 rules', 1.014–1.033) and 1.02–1.10 cycled; the tree program was
59–64 % larger than nomonitor (15416 instead of 9701 instructions for anycast
64 rules, 16475 instead of 10036 for random), the table program 1584 instead of
1162 (anycast) and 2219 instead of 1807 (random). All four policies loaded.
With the single exit but the held slots read through the monitor map (an
array lookup the verifier inlines, a null check, a load): 1.042 / 1.038 hot at
64 rules (anycast / random), 1.019 / 1.032 at 100000; the word moved into the
program's .bss then, a direct load.

### With a monitor attached

`lookup --monitor` adds **steer+monitor**: another instance of steer's program
(the same object, maps of its own, so that in the cycled figure neither finds
table lines the other just loaded) with a monitor attached as `steer monitor`
attaches one. That is slot 0's `active` bit, a lease a day ahead, an empty
filter, and a 2 MiB ring buffer in `steer_events`. The ring buffer is drained
with `ring_buffer__consume` after each call (20000 events, hot) or each block
(256, cycled), outside what is timed, and every event is checked against
the context it came from; lookup fails the run if one is lost or wrong.

TXT
			echo "| mix | rules | figure | steer | steer+monitor | steer+monitor / steer | ns added per decision |"
			echo "| --- | ---: | --- | ---: | ---: | ---: | ---: |"
			awk -F'\t' '
				$1 ~ /^#/ { next }
				!(($1, $2) in seen) { seen[$1, $2] = 1; order[++n] = $1 SUBSEP $2 }
				$3 == "#error" { err[$1, $2] = 1; next }
				$3 == "#ratio" { r[$1, $2, $4, $5] = sprintf("%.2f [%.2f, %.2f]", $6, $7, $8); next }
				$3 ~ /^#/ { next }
				{ v[$1, $2, $3, $4] = sprintf("%s (%s–%s)", $5, $6, $7); med[$1, $2, $3, $4] = $5 }
				END {
					for (i = 1; i <= n; i++) for (m = 1; m <= 2; m++) {
						split(order[i], k, SUBSEP); mode = m == 1 ? "hot" : "cycled"
						if ((k[1], k[2]) in err) {
							if (m == 1) printf "| %s | %s | – | not measured (above) | | | |\n", k[1], k[2]
							continue
						}
						printf "| %s | %s | %s | %s | %s | %s | %.1f |\n", k[1], k[2], mode, v[k[1], k[2], "steer", mode],
							v[k[1], k[2], "steer+monitor", mode], r[k[1], k[2], "steer+monitor/steer", mode],
							med[k[1], k[2], "steer+monitor", mode] - med[k[1], k[2], "steer", mode]
					}
				}' "$data/monitor-lookup.tsv"
			echo
			awk -F'\t' '
				$1 ~ /^#/ || $3 ~ /^#/ { next }
				$3 == "steer" || $3 == "steer+monitor" { med[$1, $2, $3, $4] = $5; key[$1, $2, $4] = 1 }
				END {
					for (x in key) {
						split(x, k, SUBSEP)
						if (!((k[1], k[2], "steer+monitor", k[3]) in med)) continue
						d = med[k[1], k[2], "steer+monitor", k[3]] - med[k[1], k[2], "steer", k[3]]
						if (!((k[3]) in lo) || d < lo[k[3]]) lo[k[3]] = d
						if (!((k[3]) in hi) || d > hi[k[3]]) hi[k[3]] = d
						got = 1
					}
					if (got)
						printf "With a monitor that takes every decision, each lookup costs %.0f–%.0f ns more when hot (`bpf_ktime_get_ns`, the 72-byte event, ring buffer reserve and submit) and %.0f–%.0f ns more when cycled. Before the single exit: 80–100 ns hot, 200–325 ns cycled (timed then by the test run'"'"'s timer around each run).\n", lo["hot"], hi["hot"], lo["cycled"], hi["cycled"]
				}' "$data/monitor-lookup.tsv"
		fi
		if [[ -f $data/monitor-rate.tsv ]]; then
			cat <<'TXT'

### Decisions a second the monitor keeps up with

`bench/monitor.sh`, part `rate`. The setup:

TXT
			grep -m1 '^#policy' "$data/monitor-rate.tsv" | cut -f2- | sed 's/^\([0-9]*\) rules: \(.*\), then genpolicy \([0-9]*\) --mix \(.*\)$/- A policy of \1 rules: `service dns = udp 127.0.0.1:8453`, a rule steering\n  that address to it, then `genpolicy \3 --mix \4` (table strategy). It is applied, and/'
			cat <<'TXT'
  the socket of a receiver bound to 127.0.0.1:8453 (a small C program, reading
  with `recvmmsg`) is registered with `steer register dns --auto`.
- The real `steer monitor` (no filter), started afresh for each row. Its output
  is one of: `--json > /dev/null` (**json-null**), `--json` to a file on tmpfs
  (**json-file**), or the text format to a file (**text-file**); not a
  terminal, so written in 64 KiB blocks, flushed after each drain. Its buffer
  is `--buffer 1M` (the default) or `16M`.
- A C sender sends 16-byte datagrams from one connected socket for 5 s, paced
  to 10k–400k a second, or as fast as it can ("max"). Each datagram is one
  lookup, so one decision. The sender and the receiver are pinned to CPU 0,
  where the sender's system calls also carry the softirq work, the program
  included. The monitor is left to the scheduler; "waited" is the time it
  was runnable but waiting for a CPU.

The columns:

- **decisions**: the program's own counters (`steer metrics`
  `steer_decisions_total` and `steer_misses_total`, before and after).
- **shown**: the lines the monitor wrote. For json-null they cannot be
  counted, so the table gives the bound decisions − lost.
- **lost**: `steer_monitor_events_lost_total{reason="buffer_full"}`: the
  program's count of events it could not write, the ring buffer full or the
  monitor's lease run out.
- **not_shown**: the sum of the monitor's own `not_shown` lines (text: `--
  N decisions not shown`); it should equal **lost**.
- **neither**: decisions neither shown nor counted lost; it should be 0.
- **CPU**: the monitor's run time (`/proc/PID/schedstat`), from the start of
  the traffic until it had been idle for 0.2 s, over the 5 s of traffic. It
  can pass 100 % when it drains the buffer after the traffic stops.
- **drain**: how long it went on after the traffic stopped; **gap**: the
  longest stretch of the traffic with no event shown, between consecutive
  events' own time stamps, or between the first or last event and the start
  or end of the sending.

TXT
			echo "| output | buffer | offered /s | decisions /s | decisions | shown | lost | not_shown | neither | CPU | µs CPU / shown | waited | drain | gap |"
			echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
			awk -F'\t' '
				/^#/ || $1 == "sink" { next }
				{
					# sink buffer rate sent secs decisions shown lost printed_lost cpu_s drain_s gap_ms wait_s
					# Output to /dev/null: no count of what was shown, only its bound (decisions - lost).
					shown = $7 == "-" ? "≤ " ($6 - $8) : $7
					neither = $7 == "-" ? "?" : $6 - $7 - $8
					if (neither != "?" && neither != 0) neither = "**" neither "**"
					per = $7 == "-" ? ($6 - $8 > 0 ? "≥ " sprintf("%.1f", $10 * 1e6 / ($6 - $8)) : "–") : ($7 > 0 ? sprintf("%.1f", $10 * 1e6 / $7) : "–")
					printf "| %s | %s | %s | %.0f | %d | %s | %d | %s | %s | %.0f %% | %s | %.2f s | %.2f s | %s |\n", $1, $2, $3,
						$6 / $5, $6, shown, $8, $9 == "-" ? "–" : ($9 == $8 ? $9 : "**" $9 "**"), neither, 100 * $10 / $5, per, $13, $11,
						$12 == "-" ? "–" : $12 " ms"
				}' "$data/monitor-rate.tsv"
			echo
			echo "Without losing an event over 5 s, on this machine:"
			echo
			awk -F'\t' '
				/^#/ || $1 == "sink" { next }
				{
					g = $1 " `--buffer " $2 "`"
					if (!(g in n)) order[++ng] = g
					i = ++n[g]
					rate[g, i] = $3 == "max" ? sprintf("max (%.0f)", $6 / $5) : $3; dps[g, i] = $6 / $5
					ok[g, i] = $8 == 0 && ($7 == "-" || $6 - $7 - $8 == 0)
					loss[g, i] = $6 ? 100 * $8 / $6 : 0; cpu[g, i] = 100 * $10 / $5
					unrep[g, i] = $7 == "-" || !$6 ? 0 : 100 * ($6 - $7 - $8) / $6
					if ($3 != "max" && $6 / $5 < 0.9 * $3) short = short sprintf("%s%s %s at %s/s: %.0f/s", short == "" ? "" : "; ", $1, $2, $3, $6 / $5)
					if ($3 == 10000) { if (lowc == "" || cpu[g, i] < lowc) lowc = cpu[g, i]; if (cpu[g, i] > highc) highc = cpu[g, i] }
					per[g, i] = $7 == "-" ? ($6 - $8 > 0 ? $10 * 1e6 / ($6 - $8) : 0) : ($7 > 0 ? $10 * 1e6 / $7 : 0)
					if ($7 != "-") { files++; if ($6 - $7 - $8 != 0) bad++; if ($9 != $8) badp++ }
				}
				function offered(r) { return r ~ /^max/ ? "sending as fast as it could" : r " offered" }
				END {
					for (j = 1; j <= ng; j++) {
						g = order[j]; best = 0; top = 0
						for (i = 1; i <= n[g] && ok[g, i]; i++) if (dps[g, i] > dps[g, top]) top = i
						for (i = 1; i <= n[g] && ok[g, i]; i++) best = i
						if (best == 0)
							printf "- %s: lost events at every rate, from %s/s on (%.1f %%).\n", g, rate[g, 1], loss[g, 1]
						else if (best == n[g])
							printf "- %s: none lost at any rate; at most %.0f decisions a second reached (%s; %.0f %% of a CPU, %.1f µs per event).\n", g, dps[g, top], offered(rate[g, top]), cpu[g, top], per[g, top]
						else {
							s = ""
							for (i = best + 1; i <= n[g]; i++) s = s sprintf("%s%s/s %.1f %%%s", i > best + 1 ? ", " : "", rate[g, i], loss[g, i], unrep[g, i] ? sprintf(" (and %.1f %% neither)", unrep[g, i]) : "")
							printf "- %s: up to %.0f decisions a second (%s; %.0f %% of a CPU, %.1f µs per event); lost beyond: %s.\n", g, dps[g, top], offered(rate[g, top]), cpu[g, top], per[g, top], s
						}
					}
					if (files)
						printf "\nIn the %d rows written to a file, decisions = shown + lost %s, and lost = the sum of the monitor'"'"'s not_shown lines %s.\n", files,
							bad ? sprintf("in all but **%d**", bad) : "in every one", badp ? sprintf("in all but **%d**", badp) : "in every one"
					if (lowc != "")
						printf "\nAt 10000 decisions a second the monitor used %.0f–%.0f %% of a CPU.\n", lowc, highc
					if (short != "")
						printf "\nThe sender fell more than 10 %% short of the offered rate in: %s.\n", short
				}' "$data/monitor-rate.tsv"
			cat <<'TXT'

Two things seen by hand on 2026-12-02, left for later. At low rates the
monitor still costs 20–30 % of a CPU (the 10000/s rows): each event wakes it
(`bpf_ringbuf_submit()` without BPF_RB_NO_WAKEUP), and each drain reads the
slot's socket cookie once (a `bpf` call) before it prints; the output itself
is now flushed at most every 100 ms (an earlier run flushed after every
drain: `strace -c` then counted 21939 `write` calls for 24999 events). And
the text monitor, which keeps up, slowed the sender: at 400000/s offered for
3 s it sent 527k–696k datagrams with the text monitor (16M, to a file)
attached, 842k–979k with none and 898k–958k with the json one, while the text
monitor went to sleep 28000–33000 times and the json one, always behind,
never: probably each of those sleeps costs the sending CPU a wake-up from
`bpf_ringbuf_submit()`.

Before (run of 2026-12-02: stdout line-buffered, a drain as long as events
kept coming, an expired lease not counted): `--json` kept up to 100000
decisions a second with either buffer (80–85 % of a CPU, 6–8 µs per event),
text up to 232000/s with the 1M buffer and every rate reached (315000/s) with
16M; at 10000/s each event cost 22–30 µs of CPU (a `write(2)` per event); and
from 150000/s, json-file left 1.5–2.3 % (1M) and 5–31 % (16M) of the
decisions neither shown nor counted lost.
TXT
		fi
		if [[ -f $data/monitor-lease.tsv ]]; then
			cat <<'TXT'

### The lease under a flood

The monitor holds its slot by a lease (`STEER_LEASE_NS`, 3 s) that it renews
once a second between drains and every 256 events within one; a drain stops
after 4096 events, so the loop turns, reports `not_shown` and renews even
while events keep coming. The program counts a decision it skips for an
expired lease as lost. Part `lease` of `bench/monitor.sh` checks it on one
longer run the monitor cannot keep up with, slot 0 of the pinned monitor map
read every 0.2 s (bpftool) against CLOCK_MONOTONIC:

TXT
			awk -F'\t' '
				$1 == "#run" { order[++n] = $2; run[$2] = $3 }
				$1 == "#summary" { d[$2] = $4; s[$2] = $6; l[$2] = $8; ns[$2] = $10; nb[$2] = $12; gap[$2] = $14; dr[$2] = $16 }
				$1 ~ /^[0-9]/ && $2 ~ /^[0-9]/ { k[$1]++; if (k[$1] == 1 || $3 < min[$1]) min[$1] = $3; if ($3 < 0) out[$1]++ }
				END {
					for (i = 1; i <= n; i++) {
						r = order[i]
						printf "- %s: %d decisions, %d shown, %d counted lost (%d in the monitor'"'"'s not_shown lines), **%d neither**: shown + lost %s decisions%s. ", run[r], d[r], s[r], l[r], ns[r], nb[r],
							nb[r] == 0 ? "=" : "≠", ns[r] == l[r] ? ", and the monitor reported every lost one" : ", and the not_shown lines do **not** add up to the lost count"
						printf "The lease %s (the least left in %d samples: %.2f s). The longest stretch of the traffic without an event shown: %s ms; the monitor drained for %s s after the traffic.\n",
							out[r] ? sprintf("had run out in **%d** samples", out[r]) : "never ran out", k[r], min[r], gap[r], dr[r]
					}
				}' "$data/monitor-lease.tsv"
			cat <<'TXT'

Before (run of 2026-12-02): 1599864 decisions, 1086109 shown, 0 counted lost,
513755 (32 %) neither; the lease ran out twice, for about 1.2 s each time,
while one drain lasted as long as events kept coming; the longest stretch
without an event shown was 1354 ms. Every 0.2 s sample is in
`docs/bench/monitor-lease.tsv`.
TXT
		fi
	} >"$data/monitor.md"
	echo "wrote $data/monitor.md"
}

if [[ ${BENCH_REPORT_ONLY:-} == 1 ]]; then
	report
	exit 0
fi

if [[ ${BENCH_INSIDE:-} != 1 ]]; then
	./scripts/deps.sh
	./scripts/build.sh "$build"
	[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (namespaces, BPF)" >&2; exit 2; }
	BENCH_INSIDE=1 exec unshare --net --mount --propagation private bash "$PWD/bench/monitor.sh" "$@"
fi

mixes=${BENCH_MIXES:-anycast random}
sizes=${BENCH_SIZES:-64 100000}
rounds=${BENCH_ROUNDS:-31}
rates=${BENCH_RATES:-10000 50000 100000 150000 200000 300000 400000 max}
secs=${BENCH_SECONDS:-5}
buffers=${BENCH_BUFFERS:-1M 16M}
sinks=${BENCH_SINKS:-json-null json-file text-file}
rate_rules=${BENCH_RATE_RULES:-1000}
lease_rates=${BENCH_LEASE_RATE:-200000 400000} lease_buffer=${BENCH_LEASE_BUFFER:-16M} lease_sink=${BENCH_LEASE_SINK:-json-file}
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	sizes=64 rounds=5 rates="10000 100000 max" secs=2 buffers=1M sinks=json-null
fi
only=" ${BENCH_ONLY:-lookup rate lease} "
want() { [[ $only == *" $1 "* ]]; }
st=$build/steer
clang=${STEER_CLANG:-clang}
machine="$(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; $(date -u +%Y-%m-%d)"

tmp=$(mktemp -d)
bpffs=$tmp/bpffs
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$st" detach --bpffs "$bpffs" >/dev/null 2>&1 || true
	umount "$tmp/out" 2>/dev/null || true
	umount "$bpffs" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$bpffs" "$tmp/out"
mount -t bpf bpf "$bpffs"
# The monitors' output files: memory, not the disk.
mount -t tmpfs -o size=8g tmpfs "$tmp/out"
ip link set lo up

policy() { # MIX N -> path
	local f=$tmp/$1-$2.steer
	[[ -f $f ]] || "$build/genpolicy" "$2" --mix "$1" --seed 1 >"$f"
	echo "$f"
}

# The BPF instructions of an object's code sections (the program and steer_monitor_out).
insns() { llvm-objdump -d --no-show-raw-insn "$1" | grep -cE '^ *[0-9]+:'; }
# The instructions the verifier processed to load an object's program, as
# libbpf loads it alone (maps of its own, the load-time constants left 0);
# 1000001 means it gave up ("BPF program is too large").
verified() { "$tmp/verified" "$1" 2>/dev/null || echo "?"; }

if want lookup; then
	echo "==> lookup: no monitor, no monitor support, a monitor attached ($rounds interleaved rounds)"
	# clang exactly as compiler/clang.c runs it, on the text `steer compile --emit c` writes.
	multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)
	cflags=(-target bpf -O2 -g -Wall -Wno-unused-function "-I/usr/include/$multiarch")
	out=$tmp/lookup.tsv
	printf '#machine\t%s\n' "$machine" >"$out"
	cat >"$tmp/verified.c" <<'EOF'
/* verified OBJ.o: loads OBJ's first program, prints the instructions the verifier processed. */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char log_buf[1 << 20];

int main(int argc, char **argv)
{
	struct bpf_object *o = argc == 2 ? bpf_object__open_file(argv[1], NULL) : NULL;
	struct bpf_program *p = o ? bpf_object__next_program(o, NULL) : NULL;
	const char *s;

	if (!p)
		return 2;
	bpf_program__set_log_buf(p, log_buf, sizeof(log_buf));
	bpf_program__set_log_level(p, 4); /* the statistics only */
	bpf_object__load(o);
	if (!(s = strstr(log_buf, "processed ")))
		return 1;
	printf("%lu\n", strtoul(s + 10, NULL, 10));
	return 0;
}
EOF
	cc -O2 -Wall -o "$tmp/verified" "$tmp/verified.c" -lbpf
	for mix in $mixes; do
		for n in $sizes; do
			p=$(policy "$mix" "$n")
			base=$tmp/$mix-$n
			{
				"$st" compile "$p" --emit c -o "$base.c" &&
					"$st" compile "$p" --emit obj -o "$base-steer.o" &&
					"$clang" "${cflags[@]}" -c "$base.c" -o "$base-again.o" &&
					"$clang" "${cflags[@]}" -DSTEER_NO_MONITOR -c "$base.c" -o "$base-nomon.o"
			} 2>"$tmp/compile.err" || { tail -n 20 "$tmp/compile.err" >&2; exit 1; }
			# The arguments above must be steer's own: the same code as steer's object.
			for s in sk_lookup .text; do
				llvm-objcopy --dump-section "$s=$base-a$s" "$base-steer.o" /dev/null
				llvm-objcopy --dump-section "$s=$base-b$s" "$base-again.o" /dev/null
				cmp -s "$base-a$s" "$base-b$s" || {
					echo "bench: clang as run here does not make steer's code ($s differs): compiler/clang.c changed?" >&2
					exit 1
				}
			done
			if llvm-objdump -t "$base-nomon.o" | grep -q steer_monitor_out; then
				echo "bench: -DSTEER_NO_MONITOR left steer_monitor_out in the program" >&2
				exit 1
			fi
			printf '%s\t%s\t#code\tsteer\t%s\n' "$mix" "$n" "$(insns "$base-steer.o")" >>"$out"
			printf '%s\t%s\t#code\tnomonitor\t%s\n' "$mix" "$n" "$(insns "$base-nomon.o")" >>"$out"
			echo "  $mix $n"
			printf '%s\t%s\t#verified\tsteer\t%s\n' "$mix" "$n" "$(verified "$base-steer.o")" >>"$out"
			printf '%s\t%s\t#verified\tnomonitor\t%s\n' "$mix" "$n" "$(verified "$base-nomon.o")" >>"$out"
			if ! "$build/lookup" "$p" "$build/bench/floor.bpf.o" "$build/bench/tubular.bpf.o" "$build/bench/lpm.bpf.o" \
				--runs "$rounds" --variant "steer-again=$base-steer.o" --variant "nomonitor=$base-nomon.o" --monitor \
				--per-round >"$tmp/lookup.all" 2>"$tmp/lookup.err"; then
				# Recorded, and the other policies still measured: the report says what failed.
				err=$(grep -v 'warning\|^ \|note:' "$tmp/lookup.err" | tail -n 1)
				printf '%s\t%s\t#error\t%s\n' "$mix" "$n" "$err" >>"$out"
				echo "    FAILED: $err" >&2
				continue
			fi
			# The figures over both families: lookup's "all" lines, without that column.
			awk -F'\t' -v OFS='\t' '$1 == "#touch" { next }
				{ f = $1 == "#ratio" || $1 == "#round" ? 4 : 3; if ($f != "all") next
				  for (i = f; i < NF; i++) $i = $(i + 1); NF--; print }' "$tmp/lookup.all" >"$tmp/lookup.out"
			sed "s/^/$mix\t$n\t/" "$tmp/lookup.out" >>"$out"
			grep '^lookup:' "$tmp/lookup.err" | sed 's/^/    /'
			grep -E '^#ratio' "$tmp/lookup.out" | cut -f2- | sed 's/^/    /'
		done
	done
	cp "$out" "$data/monitor-lookup.tsv"
fi

if want rate || want lease; then
	# The traffic: a receiver that reads what arrives, a sender paced to a rate.
	cat >"$tmp/udpflow.c" <<'EOF'
/*
 *   udpflow recv ADDR PORT          bind, say "ready", read until SIGTERM; print the datagrams read
 *   udpflow send ADDR PORT RATE S   16-byte datagrams at RATE a second (0: as fast as it can, in
 *                                   batches of 64) for S seconds; print "SENT SECONDS"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	static char buf[BATCH][64];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (argc < 4 || fd < 0 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[3]));
	memset(m, 0, sizeof(m));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = strcmp(argv[1], "send") == 0 ? 16 : sizeof(buf[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	if (strcmp(argv[1], "recv") == 0) {
		struct sigaction sa = { .sa_handler = on_signal };
		int big = 8 << 20;
		unsigned long long got = 0;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return perror("udpflow: bind"), 1;
		printf("ready\n");
		fflush(stdout);
		while (!stop) {
			int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
			if (n > 0)
				got += (unsigned)n;
			else if (n < 0 && errno != EINTR)
				return perror("udpflow: recvmmsg"), 1;
		}
		printf("%llu\n", got);
		return 0;
	}
	if (strcmp(argv[1], "send") != 0 || argc != 6)
		return 2;
	double rate = atof(argv[4]), secs = atof(argv[5]);
	unsigned long long sent = 0;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return perror("udpflow: connect"), 1;
	double t0 = now(), t;
	while ((t = now()) - t0 < secs) {
		unsigned want = BATCH;
		if (rate > 0) {
			double due = rate * (t - t0) - (double)sent;
			if (due < 1) {
				double wait = (1 - due) / rate; /* until the next datagram is due */
				if (wait > 100e-6) {
					struct timespec ts = { 0, (long)((wait - 50e-6) * 1e9) };
					nanosleep(&ts, NULL);
				}
				continue;
			}
			want = due < BATCH ? (unsigned)due : BATCH;
		}
		int n = sendmmsg(fd, m, want, 0);
		if (n > 0)
			sent += (unsigned)n;
		else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
			return perror("udpflow: sendmmsg"), 1;
	}
	printf("%llu %.3f\n", sent, now() - t0);
	return 0;
}
EOF
	cc -O2 -Wall -o "$tmp/udpflow" "$tmp/udpflow.c"
	# The sender and the receiver share CPU 0 (the sender's system calls carry the
	# softirq work, the program included); the monitor is left to the scheduler.
	pin=(taskset -c 0)
	[[ $(nproc) -gt 1 ]] || pin=()
	b=(--bpffs "$bpffs")
	p=$tmp/rate.steer
	{
		echo "service dns = udp 127.0.0.1:8453"
		echo "match udp dst 127.0.0.1 port 8453 -> service dns"
		cat "$(policy anycast "$rate_rules")"
	} >"$p"
	"${pin[@]}" "$tmp/udpflow" recv 127.0.0.1 8453 >"$tmp/recv.out" &
	pids+=($!)
	for _ in {1..50}; do [[ -s $tmp/recv.out ]] && break; sleep 0.1; done
	"$st" apply "${b[@]}" "$p" >/dev/null 2>&1
	"$st" register dns --auto "${b[@]}" >/dev/null

	metric() { # PREFIX... -> the sum of the samples whose name (with labels) starts with one of them
		"$st" metrics "${b[@]}" | awk -v list="$*" '
			BEGIN { n = split(list, p, " ") }
			/^#/ { next }
			{ for (i = 1; i <= n; i++) if (substr($1, 1, length(p[i])) == p[i]) s += $2 }
			END { printf "%d\n", s }'
	}
	decisions() { metric steer_decisions_total steer_misses_total; }
	# The monitor's CPU time in ns, and the time it was runnable but waiting for
	# a CPU (the scheduler's own account, /proc/PID/schedstat).
	cpuns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
	waitns() { awk '{ print $2 }' "/proc/$1/schedstat"; }
	forget() { # PID: no longer ours to clean up
		local keep=() x
		for x in "${pids[@]}"; do [[ $x == "$1" ]] || keep+=("$x"); done
		pids=("${keep[@]}")
	}

	# The longest stretch of the traffic without an event shown, in ms: between
	# two consecutive events (by their own time stamps, the decisions'), or
	# from the start of the traffic to the first or from the last to its end
	# (FROM, TO: `date -u +%T.%N` around the sender). Under steady traffic a
	# few milliseconds at most; longer where decisions went unreported.
	longest_gap() { # json|text FILE FROM TO
		awk -v fmt="$1" -v from="$3" -v to="$4" '
			function sec(t, x) { split(t, x, ":"); return x[1] * 3600 + x[2] * 60 + x[3] }
			BEGIN { prev = sec(from) }
			fmt == "json" && /^\{"time":"/ { t = substr($0, 10, 27) }
			fmt == "text" && /^[0-9][0-9][0-9][0-9]-/ { t = $1 }
			t == "" { next }
			{
				s = sec(substr(t, 12, 15))
				if (s - prev > gap) gap = s - prev
				prev = s; t = ""
			}
			END { if (sec(to) - prev > gap) gap = sec(to) - prev; printf "%.1f\n", gap * 1000 }' "$2"
	}
	# Waits until the monitor ($mpid) has drained what the traffic left it (no
	# CPU used for 0.2 s, at most a minute); prints how long that took, in s.
	drained() {
		local t1 last now
		t1=$(date +%s.%N)
		last=$(cpuns "$mpid")
		for _ in {1..300}; do
			sleep 0.2
			now=$(cpuns "$mpid")
			((now - last < 2000000)) && break
			last=$now
		done
		awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a - 0.2 }'
	}
	start_monitor() { # SINK BUFFER FILE: in the background, $mpid; waits until it has attached
		case $1 in
		json-null) "$st" monitor "${b[@]}" --json --buffer "$2" >/dev/null 2>"$tmp/mon.err" & ;;
		json-file) "$st" monitor "${b[@]}" --json --buffer "$2" >"$3" 2>"$tmp/mon.err" & ;;
		text-file) "$st" monitor "${b[@]}" --buffer "$2" >"$3" 2>"$tmp/mon.err" & ;;
		esac
		mpid=$!
		pids+=("$mpid")
		for _ in {1..100}; do [[ $(metric steer_monitors) == 1 ]] && break; sleep 0.05; done
		[[ $(metric steer_monitors) == 1 ]] || { cat "$tmp/mon.err" >&2; echo "bench: the monitor did not attach" >&2; exit 1; }
	}
fi

if want rate; then
	echo "==> rate: steer monitor against UDP datagrams at fixed rates, ${secs} s each"
	out=$tmp/rate.tsv
	printf '#machine\t%s\n' "$machine" >"$out"
	printf '#policy\t%s rules: one UDP service at 127.0.0.1:8453, its socket registered, then genpolicy %s --mix anycast\n' \
		"$(grep -c '^match' "$p")" "$rate_rules" >>"$out"
	printf 'sink\tbuffer\trate\tsent\tsecs\tdecisions\tshown\tlost\tprinted_lost\tcpu_s\tdrain_s\tgap_ms\twait_s\n' >>"$out"
	for buffer in $buffers; do
		for sink in $sinks; do
			for rate in $rates; do
				r=$rate
				[[ $rate == max ]] && r=0
				f=$tmp/out/monitor.out
				rm -f "$f"
				start_monitor "$sink" "$buffer" "$f"
				d0=$(decisions)
				c0=$(cpuns "$mpid") w0=$(waitns "$mpid")
				ts0=$(date -u +%T.%N)
				read -r sent elapsed < <("${pin[@]}" "$tmp/udpflow" send 127.0.0.1 8453 "$r" "$secs")
				ts1=$(date -u +%T.%N)
				drain=$(drained)
				c1=$(cpuns "$mpid") w1=$(waitns "$mpid")
				d1=$(decisions)
				lost=$(metric "steer_monitor_events_lost_total{pid=\"$mpid\",reason=\"buffer_full\"}")
				kill -INT "$mpid"
				wait "$mpid" || true
				forget "$mpid"
				case $sink in
				json-null) shown=- printed=- gap=- ;;
				json-file)
					shown=$(grep -vc '^{"not_shown"' "$f" || true)
					printed=$(awk -F'[:,]' '/^\{"not_shown"/ { s += $2 } END { print s + 0 }' "$f")
					gap=$(longest_gap json "$f" "$ts0" "$ts1")
					;;
				text-file)
					shown=$(grep -vc '^-- ' "$f" || true)
					printed=$(awk '/^-- [0-9]+ decisions not shown/ { s += $2 } END { print s + 0 }' "$f")
					gap=$(longest_gap text "$f" "$ts0" "$ts1")
					;;
				esac
				cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
				waited=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sink" "$buffer" "$rate" "$sent" "$elapsed" \
					"$((d1 - d0))" "$shown" "$lost" "$printed" "$cpu" "$drain" "$gap" "$waited" >>"$out"
				printf '  %-9s %-3s %6s/s: %8d decisions, shown %8s, lost %8d (printed %s), CPU %ss (waited %ss), drain %ss, gap %s ms\n' \
					"$sink" "$buffer" "$rate" "$((d1 - d0))" "$shown" "$lost" "$printed" "$cpu" "$waited" "$drain" "$gap"
				rm -f "$f"
			done
		done
	done
	cp "$out" "$data/monitor-rate.tsv"
fi

if want lease; then
	# Longer runs, at each of BENCH_LEASE_RATE, that the monitor falls behind
	# in, its slot's lease sampled from the pinned monitor map (bpftool)
	# against CLOCK_MONOTONIC, bpf_ktime_get_ns()'s clock, every 0.2 s.
	lsecs=$((secs + 3))
	mappin=$(find "$bpffs" -name monitor -path '*/steer/*' | head -n 1)
	out=$tmp/lease.tsv
	printf '#machine\t%s\n' "$machine" >"$out"
	printf 'rate\tt_s\tlease_left_s\tlost\n' >>"$out"
	for lease_rate in $lease_rates; do
		echo "==> lease: $lease_sink --buffer $lease_buffer at $lease_rate/s for $lsecs s, the lease sampled"
		f=$tmp/out/monitor.out
		rm -f "$f"
		start_monitor "$lease_sink" "$lease_buffer" "$f"
		d0=$(decisions)
		python3 - "$mappin" "$((lsecs + 4))" >"$tmp/lease.samples" <<'PY' &
import json, subprocess, sys, time
pin, secs = sys.argv[1], float(sys.argv[2])
t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
while True:
    dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "pinned", pin],
                                     capture_output=True, text=True, check=True).stdout)
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    v = dump[0]["formatted"]["value"]
    slot = next(i for i in range(len(v["m"])) if v["active"] & (1 << i))
    m = v["m"][slot]
    print(f"{(now - t0) / 1e9:.2f}\t{(m['lease_ns'] - now) / 1e9:.2f}\t{m['lost']}", flush=True)
    if now - t0 > secs * 1e9:
        break
    time.sleep(0.2)
PY
		spid=$!
		pids+=("$spid")
		sleep 0.5
		ts0=$(date -u +%T.%N)
		read -r sent elapsed < <("${pin[@]}" "$tmp/udpflow" send 127.0.0.1 8453 "$lease_rate" "$lsecs")
		ts1=$(date -u +%T.%N)
		drain=$(drained)
		wait "$spid"
		forget "$spid"
		d1=$(decisions)
		lost=$(metric "steer_monitor_events_lost_total{pid=\"$mpid\",reason=\"buffer_full\"}")
		kill -INT "$mpid"
		wait "$mpid" || true
		forget "$mpid"
		case $lease_sink in
		json-file)
			shown=$(grep -vc '^{"not_shown"' "$f" || true) gap=$(longest_gap json "$f" "$ts0" "$ts1")
			printed=$(awk -F'[:,]' '/^\{"not_shown"/ { s += $2 } END { print s + 0 }' "$f")
			;;
		*)
			shown=$(grep -vc '^-- ' "$f" || true) gap=$(longest_gap text "$f" "$ts0" "$ts1")
			printed=$(awk '/^-- [0-9]+ decisions not shown/ { s += $2 } END { print s + 0 }' "$f")
			;;
		esac
		printf '#run\t%s\t%s --buffer %s, %s datagrams/s offered for %s s, sending from 0.5 s\n' "$lease_rate" "$lease_sink" \
			"$lease_buffer" "$lease_rate" "$lsecs" >>"$out"
		printf '#summary\t%s\tdecisions\t%s\tshown\t%s\tlost\t%s\tnot_shown\t%s\tneither\t%s\tgap_ms\t%s\tdrain_s\t%s\n' "$lease_rate" \
			"$((d1 - d0))" "$shown" "$lost" "$printed" "$((d1 - d0 - shown - lost))" "$gap" "$drain" >>"$out"
		sed "s/^/$lease_rate\t/" "$tmp/lease.samples" >>"$out"
		echo "  $((d1 - d0)) decisions, $shown shown, $lost lost ($printed in not_shown lines), $((d1 - d0 - shown - lost)) neither; longest gap $gap ms; drained $drain s after"
		awk -F'\t' '$2 < 0 { n++ } END { printf "  the lease had run out in %d of the 0.2 s samples\n", n + 0 }' "$tmp/lease.samples"
		rm -f "$f"
	done
	cp "$out" "$data/monitor-lease.tsv"
fi

report

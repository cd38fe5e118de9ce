#!/usr/bin/env bash
# TCP relays side by side: a direct connection, socat, HAProxy (mode tcp),
# nginx (stream) and steer proxy in each relay mode (sockmap, splice, copy),
# over loopback in a private network and mount namespace, one run, in
# interleaved rounds (round 1 measures every relay, then round 2, ...; each
# round starts one relay further down the list). Writes docs/bench/proxy.tsv,
# docs/bench/proxy.md and docs/bench/proxy-{throughput,latency}.png. Needs root.
#
# bench/relayload.c is both ends: its server at 127.0.0.1:9000; every relay
# listens at 127.0.0.2:8000 (steer proxy: the address its forward rule
# steers) and forwards to the server; the direct row connects to the server
# itself. Per relay and round:
#   stream1_up, stream1_down  one connection, 256 KiB writes (reads), GB/s (1e9 bytes)
#   stream32_up               32 connections at once, GB/s in total
#   rr1_p50/p99, rr4096_*     ping-pong of 1 and 4096 bytes on one connection (TCP_NODELAY), µs
#   connect                   connect, 1 byte echoed, close; 4 threads; connections per second
#   cpu_system_per_gb         the whole machine's non-idle CPU time (/proc/stat: user, nice,
#                             system, irq, softirq) over the three stream runs / GB they moved
#   cpu_proxy_per_gb          the relay's own processes (utime + stime of the process and its
#                             descendants, and of its reaped children) / GB moved
# The figure is the median over the rounds.
#
#   BENCH_ROUNDS=3          rounds
#   BENCH_SECONDS=3         seconds per measurement
#   BENCH_QUICK=1           0.5 s per measurement, 1 round
#   BENCH_BUILD=DIR         build directory (build)
#   BENCH_RELAYS="direct socat haproxy nginx steer-sockmap steer-splice steer-copy"
#   BENCH_REQUIRE_STEER=1   fail, instead of leaving its rows out, when steer proxy is missing or fails
#   BENCH_REPORT_ONLY=1     only rewrite proxy.md and the plots from proxy.tsv (no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD:-build}
data=docs/bench

# ---- the report: proxy.md and the plots, from proxy.tsv alone ----
report() {
	local tsv=$data/proxy.tsv rounds secs order plot
	meta() { awk -F'\t' -v k="$1" '$1 == "#meta" && $2 == k { print $3 }' "$tsv"; }
	rounds=$(meta rounds) secs=$(meta seconds) order=$(meta relays)
	{
		cat <<HDR
# TCP relays

Reproduce: \`bash bench/proxy.sh\` (as root; builds, then runs everything in a
private network namespace and rewrites \`docs/bench/proxy.tsv\`, this file and
\`docs/bench/proxy-*.png\`; \`BENCH_QUICK=1\` for a short run).

Machine: $(meta machine); $(meta date).
$rounds round(s), ${secs} s per measurement, the median over rounds; the relays
interleaved (each round measures every relay in turn, starting one further down
the list each time). Each round's own figures are in \`proxy.tsv\` (\`#round\` lines):
on a small VM they drift by ±20 % or more between rounds, p99 latencies much more.

\`bench/relayload.c\` is the client and the upstream server (127.0.0.1:9000);
every relay listens at 127.0.0.2:8000 and forwards to it, over loopback:

- **direct**: no relay, the client connects to the server;
- **socat**: \`socat TCP-LISTEN:8000,bind=127.0.0.2,fork,reuseaddr,backlog=4096 TCP:127.0.0.1:9000\`
  (a process forked per connection, socat's default 8 KiB buffer);
- **haproxy**: HAProxy $(meta haproxy), \`mode tcp\`, \`nbthread 2\`, \`-db\`, defaults
  otherwise (no \`option splice-auto\`);
- **nginx**: nginx $(meta nginx) \`stream\` module, \`worker_processes 2\`, a bare
  \`proxy_pass\` (16 KiB \`proxy_buffer_size\`, the default);
- **steer-MODE**: \`steer proxy --relay MODE\` ($(meta steer), from the working tree) carrying the
  rule \`match tcp dst 127.0.0.2 port 8000 -> forward 127.0.0.1:9000\`: no listener at
  127.0.0.2:8000, the sk_lookup program steers the connections to the proxy's socket.

Every relay runs with its defaults otherwise, as an operator would start it;
larger buffers (HAProxy's \`tune.bufsize\`, socat's \`-b\`) or HAProxy's splicing
would move their figures.

Metrics: **1 up / 1 down**: one connection sending to (receiving from) the
server, 256 KiB writes, GB/s (10⁹ bytes; an upload counts until the server has
taken every byte); **32 up**: 32 connections at once, in total; **rr 1 B / 4 KiB**:
ping-pong on one connection (TCP_NODELAY), round trip p50 / p99 in µs;
**conn/s**: 4 threads each connecting, echoing one byte and closing (a failed
attempt, shown in brackets with the median count, waits out a 10 s timeout in
the measured time);
**CPU s/GB, system**: the machine's non-idle CPU time (\`/proc/stat\`: user,
nice, system, irq, softirq) during the three stream runs over the GB they
moved; it counts the client and the server too, the same work in every row,
so the difference to **direct** is what the relay costs, in its process and in
the kernel (softirq work lands on whichever task or CPU it interrupts, so
it cannot be charged to one process); **CPU s/GB, relay**: the relay's own
processes' utime + stime (threads, forked children and workers included;
socat's children once reaped); for steer's sockmap mode the relaying is done
in softirq context and shows in the system column only.
HDR
		echo
		printf '%s' "| relay | 1 up GB/s | 1 down GB/s | 32 up GB/s | rr 1 B p50 / p99 µs | rr 4 KiB p50 / p99 µs "
		echo "| conn/s | CPU s/GB, system | CPU s/GB, relay |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		awk -F'\t' -v order="$order" '
			/^#/ { next }
			{ v[$1, $2] = $3 }
			function f(r, m, fmt) { return (r, m) in v ? sprintf(fmt, v[r, m]) : "–" }
			END {
				n = split(order, r, " ")
				for (i = 1; i <= n; i++) {
					x = r[i]
					if (!((x, "stream1_up") in v) && !((x, "connect") in v)) continue
					printf "| %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s |\n", x,
						f(x, "stream1_up", "%.2f"), f(x, "stream1_down", "%.2f"), f(x, "stream32_up", "%.2f"),
						f(x, "rr1_p50", "%.1f"), f(x, "rr1_p99", "%.1f"), f(x, "rr4096_p50", "%.1f"), f(x, "rr4096_p99", "%.1f"),
						f(x, "connect", "%.0f") (v[x, "connect_errors"] > 0 ? sprintf(" (%s failed)", v[x, "connect_errors"]) : ""),
						f(x, "cpu_system_per_gb", "%.2f"), f(x, "cpu_proxy_per_gb", "%.2f")
				}
			}' "$tsv"
		echo
		if grep -q '^steer-' "$tsv"; then
			echo "Each steer mode against the best of socat, HAProxy and nginx (throughput: the"
			echo "highest, > 1 is better; CPU per GB: the lowest, < 1 is better):"
			echo
			echo "| relay | 1 up | 1 down | 32 up | CPU s/GB, system | CPU s/GB, relay |"
			echo "| --- | ---: | ---: | ---: | ---: | ---: |"
			awk -F'\t' '
				/^#/ { next }
				{ v[$1, $2] = $3; if ($1 ~ /^steer-/ && !($1 in s)) { s[$1] = 1; st[++ns] = $1 } }
				function best(m, hi,    i, b, who) {
					split("socat haproxy nginx", base, " ")
					bw = ""
					for (i = 1; i <= 3; i++) if ((base[i], m) in v && (bw == "" || (hi ? v[base[i], m] > b : v[base[i], m] < b))) {
						b = v[base[i], m]; bw = base[i]
					}
					return b
				}
				function ratio(x, m, hi,    b) {
					b = best(m, hi)
					if (bw == "" || !((x, m) in v) || b == 0) return "–"
					return sprintf("%.2f× (%s)", v[x, m] / b, bw)
				}
				END {
					for (i = 1; i <= ns; i++) {
						x = st[i]
						printf "| %s | %s | %s | %s | %s | %s |\n", x, ratio(x, "stream1_up", 1), ratio(x, "stream1_down", 1),
							ratio(x, "stream32_up", 1), ratio(x, "cpu_system_per_gb", 0), ratio(x, "cpu_proxy_per_gb", 0)
					}
				}' "$tsv"
		else
			echo "steer proxy was not measured in this run (missing or not starting): no steer rows."
		fi
		echo
		echo "![throughput](proxy-throughput.png)"
		echo
		echo "![latency](proxy-latency.png)"
	} >"$data/proxy.md"

	# gnuplot: clustered bars per relay.
	plot=$(mktemp)
	awk -F'\t' -v order="$order" '
		/^#/ { next }
		{ v[$1, $2] = $3 }
		function g(r, m) { return (r, m) in v ? v[r, m] : "-" }
		END {
			n = split(order, r, " ")
			for (i = 1; i <= n; i++) if ((r[i], "stream1_up") in v || (r[i], "rr1_p50") in v)
				print r[i], g(r[i], "stream1_up"), g(r[i], "stream1_down"), g(r[i], "stream32_up"),
					g(r[i], "rr1_p50"), g(r[i], "rr1_p99"), g(r[i], "rr4096_p50"), g(r[i], "rr4096_p99")
		}' "$tsv" >"$plot"
	gnuplot <<GP || echo "bench: gnuplot failed; no plots" >&2
set terminal pngcairo size 1000,460 noenhanced
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key above horizontal
set grid ytics
set yrange [0:*]
set xtics nomirror
set output "$data/proxy-throughput.png"
set title "TCP relays over loopback: throughput (median of $rounds round(s), ${secs} s each)"
set ylabel "GB/s (1e9 bytes)"
plot "$plot" using 2:xtic(1) title "1 stream up", '' using 3 title "1 stream down", '' using 4 title "32 streams up"
set output "$data/proxy-latency.png"
set title "TCP relays over loopback: ping-pong round trip (median of $rounds round(s))"
set ylabel "µs"
plot "$plot" using 5:xtic(1) title "1 B p50", '' using 6 title "1 B p99", '' using 7 title "4 KiB p50", \
	'' using 8 title "4 KiB p99"
GP
	rm -f "$plot"
}

if [[ ${BENCH_REPORT_ONLY:-} == 1 ]]; then
	report
	echo "wrote $data/proxy.md, $data/proxy-throughput.png, $data/proxy-latency.png"
	exit 0
fi

if [[ ${BENCH_INSIDE:-} != 1 ]]; then
	./scripts/deps.sh
	if ! ./scripts/build.sh "$build"; then
		# The tree may be half-way through a change; the baselines need relayload only.
		if [[ ${BENCH_REQUIRE_STEER:-} == 1 || ! -x $build/relayload ]]; then
			echo "bench: the build failed" >&2
			exit 1
		fi
		echo "bench: the build failed; going on with what $build holds" >&2
	fi
	[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (namespaces, BPF)" >&2; exit 2; }
	BENCH_INSIDE=1 exec unshare --net --mount --propagation private bash "$PWD/bench/proxy.sh" "$@"
fi

rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECONDS:-3}
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	rounds=1
	secs=0.5
fi
relays=${BENCH_RELAYS:-direct socat haproxy nginx steer-sockmap steer-splice steer-copy}
mkdir -p "$data"
rl=$build/relayload
steer=$build/steer
server=127.0.0.1:9000
front=127.0.0.2:8000
hz=$(getconf CLK_TCK)
nginx_stream=/usr/lib/nginx/modules/ngx_stream_module.so

tmp=$(mktemp -d)
bpffs=$tmp/bpffs
server_pid='' relay_pid='' relay_is_steer=''
stop_relay() {
	local p i pids=()
	if [[ -n $relay_pid ]]; then
		# The relay and whatever it forked (socat's children, nginx's workers), by their ids.
		pids=("$relay_pid")
		for ((i = 0; i < ${#pids[@]}; i++)); do
			while read -r p; do pids+=("$p"); done < <(pgrep -P "${pids[i]}" || true)
		done
		# SIGTERM; SIGKILL to what is still there after 35 s (steer proxy's default grace is 30 s,
		# though with no connection left it leaves at once).
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for p in "${pids[@]}"; do
			for _ in {1..350}; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$p" 2>/dev/null || true
		done
		wait "$relay_pid" 2>/dev/null || true
		relay_pid=
	fi
	if [[ -n $relay_is_steer ]]; then
		"$steer" detach --bpffs "$bpffs" >/dev/null 2>&1 || true
		relay_is_steer=
	fi
}
cleanup() {
	stop_relay
	if [[ -n $server_pid ]]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	umount "$bpffs" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs"
ip link set lo up

# ---- the relays' configurations ----

cat >"$tmp/haproxy.cfg" <<CFG
global
	nbthread 2
	maxconn 8000

defaults
	mode tcp
	maxconn 8000
	timeout connect 5s
	timeout client 60s
	timeout server 60s

frontend relay
	bind $front
	default_backend upstream

backend upstream
	server s1 $server
CFG

mkdir -p "$tmp/nginx"
[[ -f $nginx_stream ]] || { echo "bench: $nginx_stream missing (libnginx-mod-stream)" >&2; exit 1; }
cat >"$tmp/nginx.conf" <<CFG
load_module $nginx_stream;
daemon off;
master_process on;
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;

events {
	worker_connections 8192;
}

stream {
	server {
		listen $front;
		proxy_pass $server;
	}
}
CFG

echo "match tcp dst ${front%:*} port ${front#*:} -> forward $server" >"$tmp/forward.steer"

have_steer=1
if ! "$steer" proxy --help >/dev/null 2>&1; then
	have_steer=
	if [[ ${BENCH_REQUIRE_STEER:-} == 1 ]]; then
		echo "bench: $steer proxy is not there (BENCH_REQUIRE_STEER=1)" >&2
		exit 1
	fi
	[[ $relays == *steer-* ]] && echo "bench: $steer proxy is not there: its rows are left out" >&2
fi

# Polls until a connection through the relay at ADDR is echoed (10 s at most);
# false when the relay died or never answered.
wait_ready() {
	local addr=$1
	for _ in {1..200}; do
		[[ -z $relay_pid ]] || kill -0 "$relay_pid" 2>/dev/null || return 1
		"$rl" connect "$addr" --once && return 0
		sleep 0.05
	done
	return 1
}

# Starts RELAY; sets target (where the client connects) and relay_pid (none for direct).
start_relay() {
	target=$front
	case $1 in
	direct) target=$server; return 0 ;;
	socat)
		socat "TCP-LISTEN:${front#*:},bind=${front%:*},fork,reuseaddr,backlog=4096" "TCP:$server" \
			2>"$tmp/socat.log" &
		;;
	haproxy) haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 & ;;
	nginx) nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx.conf" 2>"$tmp/nginx.log" & ;;
	steer-*)
		relay_is_steer=1
		"$steer" apply "$tmp/forward.steer" --bpffs "$bpffs" >"$tmp/steer-apply.log" 2>&1 || {
			cat "$tmp/steer-apply.log" >&2
			return 1
		}
		"$steer" proxy --relay "${1#steer-}" --bpffs "$bpffs" >"$tmp/steer-proxy.log" 2>&1 &
		;;
	*) echo "bench: unknown relay '$1'" >&2; exit 2 ;;
	esac
	relay_pid=$!
	wait_ready "$target"
}

# The whole machine's non-idle jiffies: user nice system irq softirq (not idle, iowait, steal).
sys_jiffies() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# utime + stime + cutime + cstime (ticks) of the relay and its live descendants.
proc_ticks() {
	[[ -n $relay_pid ]] || { echo 0; return; }
	local p i pids=("$relay_pid") t=0 line f
	for ((i = 0; i < ${#pids[@]}; i++)); do
		while read -r p; do pids+=("$p"); done < <(pgrep -P "${pids[i]}" || true)
	done
	for p in "${pids[@]}"; do
		line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -ra f <<<"${line##*) }" # f[0] is field 3 (state): utime is field 14
		t=$((t + f[11] + f[12] + f[13] + f[14]))
	done
	echo "$t"
}

kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$relay" "$1" "$2" "$3" >>"$tmp/rounds.tsv"; }

# One stream run: records its GB/s and adds its bytes and CPU to the round's sums.
stream_run() {
	local metric=$1 out j0 p0
	shift
	j0=$(sys_jiffies) p0=$(proc_ticks)
	if ! out=$(timeout 120 "$rl" stream "$target" --seconds "$secs" "$@" 2>>"$tmp/errors"); then
		echo "bench: $relay: $metric failed: $(tail -n 1 "$tmp/errors")" >&2
		return 0
	fi
	cpu_sys=$((cpu_sys + $(sys_jiffies) - j0))
	cpu_proxy=$((cpu_proxy + $(proc_ticks) - p0))
	moved=$((moved + $(kv bytes "$out")))
	record "$metric" "$(kv gbps "$out")" GB/s
}

rr_run() {
	local size=$1 out
	if ! out=$(timeout 120 "$rl" rr "$target" --size "$size" --seconds "$secs" 2>>"$tmp/errors"); then
		echo "bench: $relay: rr $size failed: $(tail -n 1 "$tmp/errors")" >&2
		return 0
	fi
	record "rr${size}_p50" "$(kv p50_us "$out")" us
	record "rr${size}_p99" "$(kv p99_us "$out")" us
}

# CPU seconds per GB: JIFFIES over the bytes moved.
per_gb() { awk -v j="$1" -v b="$moved" -v hz="$hz" 'BEGIN { printf "%.3f", j / hz / (b / 1e9) }'; }

measure() {
	local out
	cpu_sys=0 cpu_proxy=0 moved=0
	stream_run stream1_up --streams 1 --dir up
	stream_run stream1_down --streams 1 --dir down
	stream_run stream32_up --streams 32 --dir up
	if ((moved > 0)); then
		record cpu_system_per_gb "$(per_gb "$cpu_sys")" s/GB
		[[ $relay == direct ]] || record cpu_proxy_per_gb "$(per_gb "$cpu_proxy")" s/GB
	fi
	rr_run 1
	rr_run 4096
	if out=$(timeout 120 "$rl" connect "$target" --seconds "$secs" --parallel 4 2>>"$tmp/errors"); then
		record connect "$(kv cps "$out")" conn/s
		record connect_errors "$(kv errors "$out")" count
		[[ $(kv errors "$out") == 0 ]] ||
			echo "bench: $relay: $(tail -n 1 "$tmp/errors") (each failure waits out a 10 s timeout)" >&2
	else
		echo "bench: $relay: connect failed: $(tail -n 1 "$tmp/errors")" >&2
	fi
}

: >"$tmp/rounds.tsv"
"$rl" server "$server" 2>"$tmp/server.log" &
server_pid=$!
relay_pid=
wait_ready "$server" || { echo "bench: relayload server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

read -ra list <<<"$relays"
run=()
for relay in "${list[@]}"; do
	[[ $relay != steer-* || -n $have_steer ]] && run+=("$relay")
done
echo "==> relays: ${run[*]}; $rounds round(s) of ${secs} s per measurement"
for ((round = 1; round <= rounds; round++)); do
	for ((k = 0; k < ${#run[@]}; k++)); do
		relay=${run[(k + round - 1) % ${#run[@]}]}
		echo "  round $round: $relay"
		if ! start_relay "$relay"; then
			case $relay in
			steer-*) logs=("$tmp/steer-apply.log" "$tmp/steer-proxy.log") ;;
			nginx) logs=("$tmp/nginx.log" "$tmp/nginx/error.log") ;;
			*) logs=("$tmp/$relay.log") ;;
			esac
			msg="bench: $relay did not start: $( (cat "${logs[@]}" 2>/dev/null || true) | tail -n 5 | tr '\n' ' ')"
			stop_relay
			if [[ $relay == steer-* && ${BENCH_REQUIRE_STEER:-} != 1 ]]; then
				echo "$msg: its rows are left out this round" >&2
				continue
			fi
			echo "$msg" >&2
			exit 1
		fi
		measure
		stop_relay
	done
done

# ---- the medians: proxy.tsv ----
{
	printf '#relay\tmetric\tvalue\tunit\n'
	printf '#meta\t%s\t%s\n' rounds "$rounds" seconds "$secs" date "$(date -u +%Y-%m-%d)" relays "${run[*]}" \
		machine "$(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs" \
		haproxy "$(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }')" nginx "$(nginx -v 2>&1 | sed 's|.*/||')" \
		steer "$("$steer" --version 2>/dev/null | head -n 1 || true)"
	metrics="stream1_up stream1_down stream32_up rr1_p50 rr1_p99 rr4096_p50 rr4096_p99 connect connect_errors"
	metrics+=" cpu_system_per_gb cpu_proxy_per_gb"
	awk -F'\t' -v order="${run[*]}" -v metrics="$metrics" '
		function median(s,    a, n, i, j, t) {
			n = split(s, a, " ")
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ k = $2 SUBSEP $3; v[k] = v[k] " " $4; u[$3] = $5 }
		END {
			nr = split(order, r, " ")
			nm = split(metrics, m, " ")
			for (i = 1; i <= nr; i++) for (j = 1; j <= nm; j++) if ((r[i], m[j]) in v)
				printf "%s\t%s\t%s\t%s\n", r[i], m[j], median(v[r[i], m[j]]), u[m[j]]
		}' "$tmp/rounds.tsv"
	sed 's/^/#round\t/' "$tmp/rounds.tsv"
} >"$data/proxy.tsv"


report
column -t -s $'\t' <(grep -v '^#' "$data/proxy.tsv") | sed 's/^/  /'
echo "wrote $data/proxy.tsv, $data/proxy.md, $data/proxy-throughput.png, $data/proxy-latency.png"

#!/usr/bin/env bash
# The main job: the seed scenario for real. In a private network and mount
# namespace (nothing touches this machine's own network), it applies
# examples/seed.steer, starts the example services (examples/namesrv.c: each
# answers with its name), registers their sockets, and shows connections to
# several addresses of each prefix landing on the right service, with steer
# monitor naming each decision's rule and receiving process (the second
# seed), the counters steer metrics serves, then status.
# Then the third seed: examples/forward.steer, with steer proxy relaying one
# prefix to one upstream and TLS to the upstream its server name chooses
# (two real `openssl s_server`s).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${STEER_DEMO_INSIDE:-}" != 1 ]; then
	./scripts/deps.sh
	echo "==> building"
	./scripts/build.sh build
	[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (namespaces, BPF)" >&2; exit 2; }
	STEER_DEMO_INSIDE=1 exec unshare --net --mount --propagation private "$0" "$@"
fi

steer=build/steer
namesrv=build/namesrv
policy=examples/seed.steer
pids=()
tmp=$(mktemp -d)
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "a private network namespace: lo up, IPv6 test prefixes local, a private BPF filesystem"
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
ip -6 addr add fd00::1/128 dev lo
ip -6 route add local fd00:41::/48 dev lo
ip -6 route add local fd00:53::/64 dev lo

step "the policy"
grep -v '^#' "$policy" | sed '/^$/N;/^\n$/D'
show "$steer" check "$policy"
show "$steer" test "$policy" | tail -n 1

step "the example services, each bound to one address and port"
serve() {
	local out
	out=$(mktemp)
	"$namesrv" serve "$@" >"$out" &
	pids+=($!)
	for _ in $(seq 50); do grep -q ready "$out" && break; sleep 0.05; done
	rm -f "$out"
	printf '  %-8s %s %-18s pid %d\n' "$3" "$1" "$2" "${pids[-1]}"
}
serve tcp 127.0.0.1:8001 web_a
serve tcp '[::]:8002' web_b --v6only 0 --fd 9
web_b_pid=${pids[-1]}
serve udp 127.0.0.1:5353 dns
serve udp '[::1]:5353' dns --v6only 1

step "apply, then hand each service its socket"
show "$steer" apply "$policy"
show "$steer" register web_a --auto
show "$steer" register web_b --pid "$web_b_pid" --fd 9
show "$steer" register dns --auto

step "the second seed: steer monitor, started before the connections (its lines follow them)"
"$steer" monitor >"$tmp/monitor.txt" 2>"$tmp/monitor.err" &
monitor_pid=$!
pids+=("$monitor_pid")
sleep 0.5

step "connections: each line is what the client got back"
failures=0
check() {
	local want=$1 proto=$2 dst=$3
	shift 3
	local got
	got=$("$namesrv" connect "$proto" "$dst" "$@" --timeout 1000 2>&1) || true
	local mark=ok
	case "$got" in "$want"*) ;; *) mark=FAIL; failures=$((failures + 1)) ;; esac
	printf '  %-4s %s %-24s %-20s -> %s\n' "$mark" "$proto" "$dst" "${*:-}" "$got"
}
for a in 1 77 254; do check web_a tcp "127.40.0.$a:80"; done
check web_a tcp 127.40.0.9:443
for a in 1 77 254; do check web_b tcp "127.41.0.$a:80"; done
check web_b tcp '[fd00:41::1]:80'
check web_b tcp '[fd00:41:0:ff::9]:443'
check web_a tcp 127.56.0.110:1234
check "dns from 127.53.0.1:53" udp 127.53.0.1:53
check "dns from 127.53.0.200:53" udp 127.53.0.200:53
check "dns from [fd00:53::77]:53" udp '[fd00:53::77]:53'
check refused tcp 127.53.0.1:53
check refused tcp 127.40.0.9:80 --from 127.66.1.2
check refused tcp 127.40.0.9:22

step "steer monitor: each decision, the rule that made it, and the process that got it"
sleep 0.3
kill -INT "$monitor_pid"
wait "$monitor_pid" || true
cut -c28- "$tmp/monitor.txt" | sed 's/^/  /'
# Each connection to web_a was decided by a rule and received by its namesrv.
if ! grep -q "service web_a  socket [0-9]* pid [0-9]* (namesrv)" "$tmp/monitor.txt"; then
	echo "  FAIL: the monitor did not name namesrv as web_a's process" && failures=$((failures + 1))
fi

step "steer metrics: the same counts, for Prometheus"
"$steer" metrics | grep -E '^steer_(decisions|misses|errors)_total' | grep -v ' 0$' | sed 's/^/  /'

step "status"
show "$steer" status

step "the third seed: forward (examples/forward.steer), carried by steer proxy"
grep -v '^#' examples/forward.steer | sed '/^$/N;/^\n$/D'
tls=$(mktemp -d)
for name in a.example x.b.example; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$name" -keyout "$tls/$name.key" \
		-out "$tls/$name.crt" 2>/dev/null
done
openssl s_server -quiet -accept 127.0.0.1:9443 -cert "$tls/a.example.crt" -key "$tls/a.example.key" -www >/dev/null 2>&1 &
pids+=($!)
openssl s_server -quiet -accept 127.0.0.1:9444 -cert "$tls/x.b.example.crt" -key "$tls/x.b.example.key" -www >/dev/null 2>&1 &
pids+=($!)
show "$steer" apply examples/forward.steer
"$steer" proxy >"$tls/proxy.out" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
for _ in $(seq 50); do grep -q ready "$tls/proxy.out" && break; sleep 0.1; done
printf '$ steer proxy &
'
cat "$tls/proxy.out"
step "forwarded connections: what each client got back"
for a in 1 200; do check web_a tcp "127.70.0.$a:80"; done
tls_check() {
	local want=$1 name=$2 got mark=ok
	got=$(timeout 5 openssl s_client -connect 127.71.0.9:443 -servername "$name" </dev/null 2>/dev/null |
		sed -n 's/^subject=//p') || true
	[ -n "$got" ] || got="no TLS session (reset)"
	case "$got" in *"$want"*) ;; *) mark=FAIL; failures=$((failures + 1)) ;; esac
	printf '  %-4s tls 127.71.0.9:443 -servername %-14s -> %s\n' "$mark" "$name" "$got"
}
tls_check "CN = a.example" a.example
tls_check "CN = x.b.example" x.b.example
tls_check "reset" other.example
show "$steer" status
kill -TERM "$proxy_pid"
wait "$proxy_pid" 2>/dev/null || true
tail -n 1 "$tls/proxy.out"
rm -rf "$tls"

step "detach: regular lookup again"
show "$steer" detach
check refused tcp 127.40.0.9:80

echo
if [ "$failures" -ne 0 ]; then
	echo "demo: $failures connection(s) did not land where the policy says"
	exit 1
fi
echo "demo: every connection landed where the policy says"

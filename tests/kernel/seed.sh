#!/usr/bin/env bash
# The seed scenarios end to end, with real sockets and servers that answer with
# their own name, under both strategies: two services on two /24 prefixes at
# port 80, a port redirect (1234 -> a service listening on 8001), a UDP service
# for a prefix whose replies come from the original destination, an IPv6
# prefix, a dual-stack IPv6 socket serving IPv4, drop -> refused.
source "$(dirname "$0")/lib.sh" "$@"

serve tcp 127.0.0.1:8001 web_a || exit 1
serve tcp '[::]:8002' web_b --v6only 0 --fd 9 || exit 1
web_b_pid=$last_pid
serve udp 127.0.0.1:5353 dns || exit 1
serve udp '[::1]:5353' dns --v6only 1 || exit 1

for strategy in tree table; do
	echo "# strategy $strategy"
	expect_status 0 "apply --strategy $strategy" st apply examples/seed.steer --strategy "$strategy"
	got=$(st status --json | jq -r .policy.strategy)
	[[ $got == "$strategy" ]] && ok "status says strategy $strategy" || fail "status says strategy '$got'"
	if [[ $strategy == tree ]]; then
		expect_status 0 "register web_a --auto" st register web_a --auto
		expect_status 0 "register web_b --pid --fd" st register web_b --pid "$web_b_pid" --fd 9
		expect_status 0 "register dns --auto (IPv4 and IPv6)" st register dns --auto
	fi
	for a in 1 77 254; do expect_conn web_a tcp "127.40.0.$a:80"; done
	expect_conn web_a tcp 127.40.0.9:443
	for a in 1 77 254; do expect_conn web_b tcp "127.41.0.$a:80"; done
	expect_conn web_b tcp '[fd00:41::1]:80'
	expect_conn web_b tcp '[fd00:41:0:ff::9]:443'
	expect_conn web_a tcp 127.56.0.110:1234
	# A connected UDP client only takes a reply from the address it sent to.
	expect_conn "dns from 127.53.0.1:53" udp 127.53.0.1:53
	expect_conn "dns from 127.53.0.200:53" udp 127.53.0.200:53
	expect_conn "dns from [fd00:53::77]:53" udp '[fd00:53::77]:53'
	expect_conn refused tcp 127.53.0.1:53
	expect_conn refused tcp 127.40.0.9:80 --from 127.66.1.2
	expect_conn refused tcp 127.40.0.9:22
	# Outside the policy's prefixes nothing listens: regular lookup, refused.
	expect_conn refused tcp 127.42.0.1:80
done

# The same verdicts from the program in the kernel (BPF_PROG_TEST_RUN, no packet) as from the evaluator.
n=$(grep -c '^expect' examples/seed.steer)
for strategy in tree table; do
	expect_status 0 "test --bpf --strategy $strategy" "$steer" test --bpf --strategy "$strategy" examples/seed.steer
	[[ $(tail -n 1 "$tmp/out") == "$n passed, 0 failed" ]] && ok "  ...$n passed" || fail "  ...last line '$(tail -n 1 "$tmp/out")'"
	for tuple in "tcp 127.0.0.1:40000 127.40.0.9:80" "udp 127.0.0.1:40000 127.53.0.7:53" "tcp 127.66.1.2:40000 127.40.0.9:80" \
		"tcp 127.0.0.1:40000 127.42.0.1:80" "tcp [fd00::1]:40000 [fd00:41::1]:80"; do
		read -ra t <<<"$tuple"
		want=$("$steer" eval examples/seed.steer "${t[@]}")
		got=$("$steer" eval --bpf --strategy "$strategy" examples/seed.steer "${t[@]}")
		[[ $got == "$want" ]] && ok "eval --bpf $tuple: $got" || fail "eval --bpf $tuple: '$got', the evaluator says '$want'"
	done
done

# Without privileges: what is needed, not just "Operation not permitted".
for cmd in status detach "apply examples/seed.steer"; do
	read -ra words <<<"$cmd"
	expect_status 2 "$cmd as nobody" setpriv --reuid=65534 --regid=65534 --clear-groups "$steer" "${words[@]}" --bpffs "$bpffs"
	grep -q "steer needs root, or CAP_BPF and CAP_NET_ADMIN" "$tmp/err" && ok "  ...says what it needs" || fail "  ...stderr: $(cat "$tmp/err")"
done

# The counters of the last apply: the web_a prefix rule took the four connections to 127.40.0.0/24.
hits=$(st status --json | jq '[.rules[] | select((.file | endswith("seed.steer")) and .line == 16) | .hits] | add // 0')
if [[ ${hits:-0} -ge 4 ]]; then ok "status counts hits on the web_a rule ($hits)"; else fail "web_a rule hits: '$hits'"; fi
finish

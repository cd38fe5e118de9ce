#!/usr/bin/env bash
# A real UDP server as operators run it: dnsmasq, queried with dig. Bound to one
# address it answers from that address only, so a prefix steered to it gets
# replies the client drops (dig times out): register says so with a warning.
# In its default mode (the wildcard address, IP_PKTINFO on) it answers from
# each query's destination, and the same prefix works, with no warning.
source "$(dirname "$0")/lib.sh" "$@"

command -v dnsmasq >/dev/null && command -v dig >/dev/null ||
	_cannot_run "needs dnsmasq and dig (scripts/deps.sh installs dnsmasq-base and bind9-dnsutils)"

p=$(policy dns <<'P'
service pinned = udp 127.0.0.1:5353
service wild = udp 0.0.0.0:53
match udp dst 127.53.0.0/24 port 53 -> service pinned
match udp dst 127.54.0.0/24 port 53 -> service wild
P
)
dnsmasq_() {
	dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root --pid-file= \
		--log-facility=- "$@" 2>>"$tmp/dnsmasq.log" &
	pids+=($!)
}
dnsmasq_ --bind-interfaces --listen-address=127.0.0.1 --port=5353 --address=/steer.test/192.0.2.53
dnsmasq_ --port=53 --address=/steer.test/192.0.2.54
for _ in $(seq 50); do
	[[ $(ss -Hlun | grep -cE ':(5353|53) ') -ge 2 ]] && break
	sleep 0.05
done

expect_status 0 "apply" st apply "$p"
expect_status 0 "register dnsmasq bound to 127.0.0.1 for a /24" st register pinned --auto
grep -q "^steer: warning: its rules send service 'pinned' UDP for prefixes or port ranges, but this socket (bound to 127.0.0.1:5353) does not read where each datagram was sent" "$tmp/err" &&
	ok "  ...with a warning that says what the server must do" || fail "  ...stderr: $(cat "$tmp/err")"
expect_status 0 "register dnsmasq on the wildcard address" st register wild --auto
grep -q warning "$tmp/err" && fail "  ...warned: $(cat "$tmp/err")" || ok "  ...no warning: it reads each destination"

# What the warning is about: the bound server's reply leaves from 127.0.0.1, and dig drops it.
got=$(dig @127.53.0.9 -p 53 steer.test +short +time=1 +tries=1 2>&1)
[[ $got == *"timed out"* ]] && ok "dig via the bound dnsmasq: no answer dig accepts" || fail "dig via the bound dnsmasq: '$got'"
got=$(dig @127.54.0.9 -p 53 steer.test +short +time=1 +tries=1 2>&1)
[[ $got == 192.0.2.54 ]] && ok "dig via the wildcard dnsmasq: $got" || fail "dig via the wildcard dnsmasq: '$got'"
hits=$(st status --json | jq '[.rules[] | select(.line == 4) | .hits] | add // 0')
[[ $hits -ge 1 ]] && ok "  ...steered by the rule at line 4 ($hits)" || fail "  ...the rule at line 4 has $hits hits"
expect_status 0 "detach" st detach
finish

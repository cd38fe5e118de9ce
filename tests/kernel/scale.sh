#!/usr/bin/env bash
# A million rules end to end: a generated anycast-like policy (bench/genpolicy)
# with the test's own rules first compiles with the table strategy, passes the
# differential test (reference vs in-kernel) on tuples at its rules' edges,
# loads, and steers real connections and datagrams; a re-apply of it keeps the
# sockets. STEER_SCALE_RULES overrides the size (default 1000000).
source "$(dirname "$0")/lib.sh" "$@"

build=$(dirname "$steer")
rules=${STEER_SCALE_RULES:-1000000}
p=$tmp/scale.steer
{
	echo "service web = tcp 127.0.0.1:8301"
	echo "service dns = udp 127.0.0.1:8353"
	echo "match tcp dst 127.95.0.0/24 port 80 -> service web"
	echo "match udp dst 127.95.0.0/24 port 53 -> service dns"
	echo "match tcp dst 127.96.0.7 port 8080 -> service web"
	"$build/genpolicy" "$rules" --mix anycast --seed 7
} >"$p"
echo "# $(grep -c '^match' "$p") rules"

start=$SECONDS
expect_status 0 "compile --emit tree (auto picks table)" "$steer" compile "$p" --emit tree
head -n 1 "$tmp/out"
grep -q "^strategy table" "$tmp/out" && ok "auto chose the table strategy" || fail "auto chose: $(head -n 1 "$tmp/out")"
"$build/tests/kernel/diff/steer_diff" --policy "$p" --tuples 400 >"$tmp/diff" 2>&1 &&
	ok "differential test on the $rules-rule policy: $(tail -n 1 "$tmp/diff")" ||
	{ fail "differential test on the $rules-rule policy:"; tail -n 30 "$tmp/diff"; }

serve tcp 127.0.0.1:8301 web || exit 1
serve udp 127.0.0.1:8353 dns || exit 1
t0=$SECONDS
expect_status 0 "apply" st apply "$p"
echo "# apply took $((SECONDS - t0)) s"
expect_status 0 "register web" st register web --auto
expect_status 0 "register dns" st register dns --auto
for a in 1 128 254; do expect_conn web tcp "127.95.0.$a:80"; done
expect_conn web tcp 127.96.0.7:8080
expect_conn "dns from 127.95.0.9:53" udp 127.95.0.9:53
expect_conn refused tcp 127.95.0.1:81

t0=$SECONDS
expect_status 0 "re-apply the same policy" st apply "$p"
echo "# re-apply took $((SECONDS - t0)) s"
expect_conn web tcp 127.95.0.3:80
rules_applied=$(st status --json | jq .policy.rules)
[[ $rules_applied -ge $rules ]] && ok "status: $rules_applied rules applied" || fail "status: $rules_applied rules"
echo "# $((SECONDS - start)) s in all"
finish

#!/usr/bin/env bash
# A million rules end to end: a generated anycast-like policy (bench/genpolicy)
# with the test's own rules first compiles with the table strategy, passes the
# differential test (reference vs in-kernel) on tuples at its rules' edges,
# loads, and steers real connections and datagrams; a re-apply of it with one
# rule more keeps the sockets, and applying that again is a no-op. A tenth as
# many rules that all test source and destination (genpolicy --mix pairs)
# compile into the table and pass the differential test too.
# STEER_SCALE_RULES overrides the size (default 1000000).
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
cp "$p" "$tmp/scale2.steer"
echo "match tcp dst 127.96.0.8 port 8080 -> service web" >>"$tmp/scale2.steer"
expect_status 0 "re-apply with one rule more" st apply "$tmp/scale2.steer"
echo "# re-apply took $((SECONDS - t0)) s"
grep -q "^replaced" "$tmp/out" && ok "replaced" || fail "re-apply said: $(cat "$tmp/out")"
expect_conn web tcp 127.95.0.3:80
expect_conn web tcp 127.96.0.8:8080
t0=$SECONDS
expect_status 0 "apply it again" st apply "$tmp/scale2.steer"
echo "# the unchanged apply took $((SECONDS - t0)) s"
grep -q "^unchanged" "$tmp/out" && ok "unchanged: nothing done" || fail "apply again said: $(cat "$tmp/out")"
rules_applied=$(st status --json | jq .policy.rules)
[[ $rules_applied -ge $rules ]] && ok "status: $rules_applied rules applied" || fail "status: $rules_applied rules"

# Rules that test source and destination together (the table's part X) have no ceiling either.
pairs=$((rules / 10))
"$build/genpolicy" "$pairs" --mix pairs --seed 7 >"$tmp/pairs.steer"
expect_status 0 "compile --emit tree, $pairs source-and-destination rules" "$steer" compile "$tmp/pairs.steer" --emit tree
grep "part X" -A2 "$tmp/out"
grep -q "part X (source and destination, source ports, interfaces): $pairs rules" "$tmp/out" &&
	ok "all $pairs rules in part X, as data" || fail "part X: $(grep 'part X' "$tmp/out")"
"$build/tests/kernel/diff/steer_diff" --policy "$tmp/pairs.steer" --tuples 400 >"$tmp/diff" 2>&1 &&
	ok "differential test on the $pairs-rule pairs policy: $(tail -n 1 "$tmp/diff")" ||
	{ fail "differential test on the pairs policy:"; tail -n 30 "$tmp/diff"; }
echo "# $((SECONDS - start)) s in all"
finish

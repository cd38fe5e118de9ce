#!/usr/bin/env bash
# Re-apply: the program is swapped atomically (BPF link update), every
# registered socket stays, the new policy takes effect at once, and no
# connection fails while policies are re-applied in a loop, also when the
# strategy (and so the map layout) changes. A bad apply (syntax error, no
# clang, --werror on a warning) changes nothing: the old policy keeps running.
# New services never inherit the sockets of services that go.
source "$(dirname "$0")/lib.sh" "$@"

a=$(policy a <<'P'
service one = tcp 127.0.0.1:8101
service two = tcp 127.0.0.1:8102
match tcp dst 127.80.0.0/24 port 80 -> service one
match tcp dst 127.81.0.0/24 port 80 -> service two
P
)
# B swaps the prefixes and adds a rule: same services, so the sockets carry over.
b=$(policy b <<'P'
service one = tcp 127.0.0.1:8101
service two = tcp 127.0.0.1:8102
match tcp dst 127.80.0.0/24 port 80 -> service two
match tcp dst 127.81.0.0/24 port 80 -> service one
match tcp dst 127.82.0.0/24 port 80 -> service one
P
)
serve tcp 127.0.0.1:8101 one || exit 1
serve tcp 127.0.0.1:8102 two || exit 1

expect_status 0 "apply A" st apply "$a"
expect_status 0 "register one" st register one --auto
expect_status 0 "register two" st register two --auto
expect_conn one tcp 127.80.0.1:80
prog_a=$(st status --json | jq .program.id)
link_a=$(st status --json | jq .program.link_id)

expect_status 0 "apply B (no register in between)" st apply "$b"
expect_conn two tcp 127.80.0.1:80
expect_conn one tcp 127.81.0.1:80
expect_conn one tcp 127.82.0.1:80
prog_b=$(st status --json | jq .program.id)
link_b=$(st status --json | jq .program.link_id)
[[ $prog_b != "$prog_a" && $link_b == "$link_a" ]] && ok "new program $prog_b on the same link $link_b" ||
	fail "program $prog_a -> $prog_b, link $link_a -> $link_b: want a new program on the same link"
sockets=$(st status --json | jq '[.services[].sockets[]] | length')
[[ $sockets == 2 ]] && ok "both sockets still registered" || fail "$sockets sockets registered after re-apply"

# The same policy again (as text, or built by compile -o) is a no-op that says so: the program stays.
expect_status 0 "apply B again" st apply "$b"
grep -q "^unchanged $b: already applied as program $prog_b" "$tmp/out" && ok "apply B again: unchanged, nothing done" ||
	fail "apply B again said: $(cat "$tmp/out")"
expect_status 0 "compile B -o" "$steer" compile "$b" -o "$tmp/b.built"
expect_status 0 "apply built B" st apply "$tmp/b.built"
grep -q "^unchanged" "$tmp/out" && ok "the built B is the applied B: unchanged" || fail "apply built B said: $(cat "$tmp/out")"
[[ $(st status --json | jq .program.id) == "$prog_b" ]] && ok "still program $prog_b" ||
	fail "the program changed on an unchanged apply"
expect_status 0 "apply B with the other strategy" st apply "$b" --strategy table
grep -q "^replaced" "$tmp/out" && ok "another strategy is another program: replaced" ||
	fail "apply B --strategy table said: $(cat "$tmp/out")"
expect_status 0 "back to B as it was" st apply "$b"

# Connections in a loop while A and B (and the other strategy) are re-applied: none may fail.
(
	for i in $(seq 6); do
		st apply "$a" --strategy table >/dev/null 2>&1
		st apply "$b" --strategy tree >/dev/null 2>&1
	done
) &
applier=$!
bad=0
n=0
while kill -0 "$applier" 2>/dev/null; do
	got=$("$namesrv" connect tcp 127.81.0.7:80 --timeout 1000 2>&1)
	n=$((n + 1))
	[[ $got == one || $got == two ]] || { bad=$((bad + 1)); echo "  during re-apply: $got"; }
done
wait "$applier"
[[ $bad -eq 0 && $n -gt 0 ]] && ok "$n connections during 12 re-applies, none failed" || fail "$bad of $n connections failed during re-applies"

# Now B is applied. Bad applies must leave it as it is.
hash=$(st status --json | jq -r .policy.sha256)
broken=$(policy broken <<'P'
service one = tcp 127.0.0.1:8101
match tcp dst 127.80.0.0/24 port 80 -> service one
match tcp dst 127.80.0.0/33 port 80 -> service one
P
)
expect_status 1 "apply a policy with an error" st apply "$broken"
grep -q "broken.steer:3:" "$tmp/err" && ok "the error names FILE:LINE" || fail "error without a location: $(cat "$tmp/err")"
expect_status 2 "apply without clang" env STEER_CLANG=/nonexistent/clang "$steer" apply --bpffs "$bpffs" "$a"
grep -qi clang "$tmp/err" && ok "the error says clang is missing" || fail "error: $(cat "$tmp/err")"
shadowed=$(policy shadowed <<'P'
service one = tcp 127.0.0.1:8101
service two = tcp 127.0.0.1:8102
match tcp dst 127.80.0.0/16 port 80 -> service one
match tcp dst 127.80.0.0/24 port 80 -> service two
P
)
expect_status 1 "apply --werror with a shadowed rule" st apply "$shadowed" --werror
[[ $(st status --json | jq -r .policy.sha256) == "$hash" ]] && ok "the applied policy is still B" || fail "the policy changed"
expect_conn two tcp 127.80.0.1:80
expect_conn one tcp 127.82.0.1:80

# A policy whose services are all new: they must not inherit the sockets of the
# services that go (their slots are not reused while the old program runs).
c=$(policy c <<'P'
service three = tcp 127.0.0.1:8103
service four = tcp 127.0.0.1:8104
match tcp dst 127.80.0.0/24 port 80 -> service three
match tcp dst 127.81.0.0/24 port 80 -> service four
P
)
expect_status 0 "apply C (new services only)" st apply "$c"
grep -q "2 removed services released" "$tmp/out" && ok "both old services released" ||
	fail "apply said: $(cat "$tmp/out")"
sockets=$(st status --json | jq '[.services[].sockets[]] | length')
[[ $sockets == 0 ]] && ok "the new services hold no socket of the old ones" || fail "$sockets sockets inherited by new services"
expect_conn refused tcp 127.80.0.1:80
finish

#!/usr/bin/env bash
# The applied state as operators meet it: a policy compiled on one machine
# applies on another without clang or its source; a damaged one is refused and
# the applied policy stays; a command waiting for the lock says who holds it and
# --wait bounds the wait; status checks the state against the kernel and says
# when they disagree (exit 2); detach with nothing applied is not an error.
source "$(dirname "$0")/lib.sh" "$@"

serve tcp 127.0.0.1:8001 web_a || exit 1
serve tcp '[::]:8002' web_b --v6only 0 || exit 1
serve udp 127.0.0.1:5353 dns || exit 1

# --- compile once, apply where there is no clang ---------------------------
expect_status 0 "compile the seed policy to a built policy" "$steer" compile examples/seed.steer -o "$tmp/seed.built"
mkdir -p "$tmp/noclang"
noclang=(env -u STEER_CLANG PATH="$tmp/noclang")
expect_status 2 "without clang the policy's text cannot be applied" "${noclang[@]}" "$steer" apply --bpffs "$bpffs" examples/seed.steer
grep -q "clang not found" "$tmp/err" && ok "  ...clang not found" || fail "  ...message: $(cat "$tmp/err")"
cp "$tmp/seed.built" "$tmp/copy.built"
expect_status 0 "the built policy applies without clang or the source" "${noclang[@]}" "$steer" apply --bpffs "$bpffs" "$tmp/copy.built"
expect_status 0 "register web_a --auto" st register web_a --auto
expect_status 0 "register web_b --auto" st register web_b --auto
expect_conn web_a tcp 127.40.0.9:80
expect_conn web_b tcp 127.41.0.9:80
expect_conn web_a tcp 127.56.0.110:1234
sha=$(sha256sum examples/seed.steer | cut -d' ' -f1)
got=$(st status --json | jq -r .policy.sha256)
[[ $got == "$sha" ]] && ok "status names the source's sha256" || fail "status sha256 '$got', want '$sha'"
prog=$(st status --json | jq -r .program.id)

# --- a damaged built policy changes nothing ---------------------------------
size=$(stat -c %s "$tmp/seed.built")
head -c $((size / 2)) "$tmp/seed.built" >"$tmp/half.built"
expect_status 1 "a truncated built policy is refused" st apply "$tmp/half.built"
[[ $(st status --json | jq -r .program.id) == "$prog" ]] && ok "  ...the applied program stays" || fail "  ...the program changed"
expect_conn web_a tcp 127.40.0.9:80

# --- the lock ----------------------------------------------------------------
dir=$bpffs/steer/$(stat -L -c %i /proc/self/ns/net)
flock "$dir" sleep 3 &
holder=$!
pids+=("$holder")
sleep 0.3
expect_status 2 "status --wait 0.5 while another holds the lock" st status --wait 0.5
grep -q "locked by pid $holder (flock)" "$tmp/err" && ok "  ...names the holder" || fail "  ...message: $(cat "$tmp/err")"
start=$SECONDS
expect_status 0 "status without --wait waits for the lock" st status
grep -q "waiting for the state lock of network namespace .* held by pid $holder (flock)" "$tmp/err" &&
	ok "  ...and says so, naming the holder" || fail "  ...stderr: $(cat "$tmp/err")"
[[ $((SECONDS - start)) -ge 1 ]] && ok "  ...until it is released" || fail "  ...returned after $((SECONDS - start)) s"
wait "$holder" 2>/dev/null

# --- status checks the state against the kernel -------------------------------
expect_status 0 "status agrees with the kernel" st status --json
[[ $(jq -r .verified "$tmp/out") == true ]] && ok "  ...verified" || fail "  ...$(cat "$tmp/out")"
mv "$dir/sockets" "$bpffs/sockets_aside"
expect_status 2 "status with a pin removed by hand" st status
grep -q "sockets' is missing" "$tmp/err" && ok "  ...says which" || fail "  ...stderr: $(cat "$tmp/err")"
expect_status 2 "apply refuses to build on it" st apply examples/seed.steer
grep -q "steer detach" "$tmp/err" && ok "  ...and says how to recover" || fail "  ...stderr: $(cat "$tmp/err")"
mv "$bpffs/sockets_aside" "$dir/sockets"
link=$(st status --json | jq -r .program.link_id)
bpftool link detach id "$link" 2>/dev/null
expect_status 2 "status when the link was detached outside steer" st status
grep -q "detached outside steer" "$tmp/err" && ok "  ...says so" || fail "  ...stderr: $(cat "$tmp/err")"

# --- interfaces: resolved at apply, shown by status, flagged when they change ----
expect_status 0 "detach before the interface policy" st detach
ip link add st0 type bridge
p=$(policy iif <<'P'
service web_a = tcp 127.0.0.1:8001
match tcp dst 127.40.0.0/24 port 80 iif st0 -> service web_a
match tcp dst 127.40.0.0/24 port 80 iif nosuch0 -> drop
P
)
expect_status 1 "apply with an interface the namespace lacks" st apply "$p"
grep -q "interface 'nosuch0' (iif in the policy) does not exist" "$tmp/err" && ok "  ...names it" || fail "  ...stderr: $(cat "$tmp/err")"
ip link add nosuch0 type bridge
expect_status 0 "apply once both exist" st apply "$p"
idx=$(ip -j link show st0 | jq .[0].ifindex)
got=$(st status --json | jq -r '.interfaces[] | select(.name == "st0") | "\(.ifindex) \(.state)"')
[[ $got == "$idx ok" ]] && ok "status shows st0 as resolved ($got)" || fail "status: st0 '$got', want '$idx ok'"
ip link del st0
ip link add st0 type bridge
got=$(st status --json | jq -r '.interfaces[] | select(.name == "st0") | .state')
[[ $got == gone ]] && ok "st0 re-created: status flags the old index as gone" || fail "status: st0 state '$got', want gone"
st status | grep -q "st0 ifindex $idx (gone" && ok "  ...in the human output too" || fail "  ...$(st status | grep st0)"
expect_status 0 "apply again follows the new index" st apply "$p"
got=$(st status --json | jq -r '.interfaces[] | select(.name == "st0") | "\(.ifindex) \(.state)"')
[[ $got == "$(ip -j link show st0 | jq .[0].ifindex) ok" ]] && ok "  ...st0 resolved again ($got)" || fail "  ...st0 '$got'"

# --- detach ------------------------------------------------------------------
expect_status 0 "detach removes even a state that disagrees" st detach
expect_status 0 "detach with nothing applied is not an error" st detach
grep -q "nothing to detach" "$tmp/out" && ok "  ...and says so" || fail "  ...stdout: $(cat "$tmp/out")"
expect_status 0 "status with nothing applied" st status
[[ -z $(ls "$bpffs/steer" 2>/dev/null) ]] && ok "nothing stays pinned" || fail "left: $(ls -R "$bpffs/steer")"
no_links && ok "no sk_lookup link left in this namespace" || fail "$(links) sk_lookup link(s) still attached"
finish

#!/usr/bin/env bash
# What happens without a socket, and with several: `drop` refuses; a service
# with no socket refuses, and with `or pass` the regular lookup takes it (a
# plain listener on that address answers); a reuseport group keeps its
# balancing: the kernel still picks among the group's sockets.
source "$(dirname "$0")/lib.sh" "$@"

p=$(policy fallbacks <<'P'
service nosock
service lb = tcp 127.0.0.1:9000
match tcp dst 127.70.0.0/24 port 80 -> drop
match tcp dst 127.71.0.0/24 port 80 -> service nosock
match tcp dst 127.72.0.0/24 port 80 -> service nosock or pass
match tcp dst 127.73.0.0/24 port 80 -> service lb
P
)
# Regular listeners on the exact addresses, to see who takes what.
serve tcp 127.70.0.1:80 plain70 || exit 1
serve tcp 127.71.0.1:80 plain71 || exit 1
serve tcp 127.72.0.1:80 plain72 || exit 1
for n in 1 2 3 4; do serve tcp 127.0.0.1:9000 "lb$n" --reuseport || exit 1; done

expect_conn plain70 tcp 127.70.0.1:80 # before apply: the regular lookup
expect_status 0 "apply" st apply "$p"
expect_status 0 "register lb --auto (one socket of the reuseport group)" st register lb --auto
expect_conn refused tcp 127.70.0.1:80
expect_conn refused tcp 127.71.0.1:80
expect_conn refused tcp 127.71.0.9:80
expect_conn plain72 tcp 127.72.0.1:80
expect_conn refused tcp 127.72.0.9:80 # or pass, and nothing listens there: refused by the kernel

# 40 connections to the group: more than one member must answer.
declare -A seen=()
for i in $(seq 40); do
	got=$("$namesrv" connect tcp "127.73.0.$((i % 200 + 1)):80" --timeout 1000 2>&1)
	seen[$got]=1
done
names=$(printf '%s\n' "${!seen[@]}" | sort | tr '\n' ' ')
if [[ ${#seen[@]} -ge 2 && $names != *refused* && $names != *timeout* ]]; then
	ok "reuseport group balances: $names"
else
	fail "reuseport group: answers were $names"
fi

# Status shows the missing socket.
missing=$(st status --json | jq -r '.services[] | select(.name == "nosock") | .missing | join(",")')
[[ $missing == *tcp/ipv4* ]] && ok "status: nosock is missing $missing" || fail "status: nosock missing '$missing'"
finish

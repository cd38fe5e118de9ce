#!/usr/bin/env bash
# A socket's life in the map and the policy's on the namespace: register
# refuses what SPEC §4 refuses, with a reason (exit 1); a socket its process
# closes leaves the map by itself and status shows it missing; unregister;
# detach removes the program and the pinned state and the regular lookup is back.
source "$(dirname "$0")/lib.sh" "$@"

p=$(policy life <<'P'
service web = tcp 127.0.0.1:8201
service dns = udp 127.0.0.1:8253
service quiet
service web2
service dnsany = udp 127.0.0.1:8254
service plainudp
service exactudp
match tcp dst 127.90.0.0/24 port 80 -> service web
match tcp dst 127.92.0.0/24 port 80 -> service web2
match udp dst 127.92.0.0/24 port 53 -> service dnsany
match udp dst 127.93.0.0/24 port 53 -> service plainudp
match udp dst 127.0.0.1 port 8256 -> service exactudp
match udp dst 127.90.0.0/24 port 53 -> service dns
match tcp dst 127.91.0.0/24 port 80 -> service web or pass
P
)
serve tcp 127.0.0.1:8201 web --fd 9 || exit 1
web_pid=$last_pid
serve tcp 127.91.0.1:80 plain91 || exit 1
serve udp 127.0.0.1:8253 dns --fd 9 || exit 1
dns_pid=$last_pid
serve tcp 127.0.0.1:8299 other --fd 9 || exit 1
other_pid=$last_pid
serve tcp '[::1]:8206' web6 --v6only 1 --fd 9 || exit 1
web6_pid=$last_pid
serve udp 0.0.0.0:8254 dnsany --fd 9 || exit 1
dnsany_pid=$last_pid

expect_status 1 "register before any apply" st register web --auto
expect_status 0 "apply" st apply "$p"
expect_status 1 "register an unknown service" st register nosuch --auto
grep -q "nosuch" "$tmp/err" && ok "  ...names it" || fail "  ...message: $(cat "$tmp/err")"
expect_status 1 "register a service without an address --auto" st register quiet --auto
expect_status 1 "register a TCP socket to a UDP-only service" st register dns --pid "$other_pid" --fd 9
grep -q "no rule steers tcp" "$tmp/err" && ok "  ...says why" || fail "  ...message: $(cat "$tmp/err")"
expect_status 1 "register a UDP socket to a TCP-only service" st register web --pid "$dns_pid" --fd 9
expect_status 1 "register a descriptor that is not a socket" st register web --fd 0
# A TCP socket that does not listen: a fresh one from a helper process.
python3 -c 'import socket,time,os; s=socket.socket(); s.bind(("127.0.0.1",8298)); print(s.fileno(), flush=True); time.sleep(30)' >"$tmp/py" &
py=$!
pids+=("$py")
for _ in $(seq 50); do [[ -s $tmp/py ]] && break; sleep 0.05; done
expect_status 1 "register a TCP socket that does not listen" st register web --pid "$py" --fd "$(cat "$tmp/py")"
grep -q "not listening" "$tmp/err" && ok "  ...says why" || fail "  ...message: $(cat "$tmp/err")"

expect_status 1 "register an IPv6-only socket to a service whose rules are IPv4" st register web --pid "$web6_pid" --fd 9
grep -q "no tcp rule steers IPv6 to service 'web'" "$tmp/err" && ok "  ...says why" || fail "  ...message: $(cat "$tmp/err")"
expect_status 0 "register web --pid --fd" st register web --pid "$web_pid" --fd 9
expect_status 1 "register the same socket to a second service" st register web2 --pid "$web_pid" --fd 9
grep -q "already registered for service 'web'" "$tmp/err" && ok "  ...names the first" || fail "  ...message: $(cat "$tmp/err")"
expect_status 0 "register dns --auto" st register dns --auto
grep -q warning "$tmp/err" && fail "  ...a server that answers from each destination got: $(cat "$tmp/err")" || ok "  ...no warning for a server that reads each destination"
# UDP servers that only answer from their own address: fine for exactly that address, not for a prefix.
python3 -c 'import socket,time
for port in (8255, 8256):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port)); print(s.fileno(), flush=True); globals()[f"s{port}"] = s
time.sleep(30)' >"$tmp/udp" &
udp_pid=$!
pids+=("$udp_pid")
for _ in $(seq 50); do [[ $(wc -l <"$tmp/udp") -eq 2 ]] && break; sleep 0.05; done
expect_status 0 "register a UDP socket that answers from its own address to a prefix" st register plainudp --pid "$udp_pid" --fd "$(sed -n 1p "$tmp/udp")"
grep -q "^steer: warning: its rules send service 'plainudp' UDP for prefixes or port ranges, but this socket (bound to 127.0.0.1:8255) does not read where each datagram was sent" "$tmp/err" &&
	ok "  ...registered, with a warning saying what the server must do" || fail "  ...stderr: $(cat "$tmp/err")"
expect_status 0 "the same kind of socket for exactly its own address" st register exactudp --pid "$udp_pid" --fd "$(sed -n 2p "$tmp/udp")"
grep -q warning "$tmp/err" && fail "  ...warned: $(cat "$tmp/err")" || ok "  ...no warning"
expect_status 1 "register --auto where only the wildcard address is bound" st register dnsany --auto
grep -q "but pid $dnsany_pid (namesrv) is bound on 0.0.0.0:8254: declare the service as 'udp 0.0.0.0:8254', or register that socket with --pid $dnsany_pid --fd 9" "$tmp/err" &&
	ok "  ...names the wildcard socket and both ways to use it" || fail "  ...message: $(cat "$tmp/err")"
expect_status 0 "  ...and the way it names works" st register dnsany --pid "$dnsany_pid" --fd 9
expect_conn web tcp 127.90.0.5:80
expect_conn "dns from 127.90.0.5:53" udp 127.90.0.5:53
owner=$(st status --json | jq -r '.services[] | select(.name == "web") | .sockets[0].processes[0] | "\(.pid) \(.comm)"')
[[ $owner == "$web_pid namesrv" ]] && ok "status names the owning process ($owner)" || fail "status: owner '$owner', want '$web_pid namesrv'"

# The web server exits: its socket closes and leaves the map by itself.
kill "$web_pid"
wait "$web_pid" 2>/dev/null
sleep 0.2
n=$(st status --json | jq '[.services[] | select(.name == "web") | .sockets[]] | length')
[[ $n == 0 ]] && ok "the closed socket is gone from status" || fail "web still has $n socket(s) after its process exited"
missing=$(st status --json | jq -r '.services[] | select(.name == "web") | .missing | join(",")')
[[ $missing == *tcp/ipv4* ]] && ok "status: web is missing $missing" || fail "status: web missing '$missing'"
expect_conn refused tcp 127.90.0.5:80
expect_conn plain91 tcp 127.91.0.1:80 # or pass

expect_status 0 "unregister dns" st unregister dns
expect_conn refused udp 127.90.0.5:53
expect_status 0 "detach" st detach
expect_status 0 "status after detach" st status
grep -q "no policy applied" "$tmp/out" && ok "  ...says no policy is applied" || fail "  ...says: $(cat "$tmp/out")"
[[ -z $(ls "$bpffs/steer" 2>/dev/null) ]] && ok "the pinned state is gone" || fail "left in $bpffs/steer: $(ls -R "$bpffs/steer")"
no_links && ok "no sk_lookup link left in this namespace" || fail "$(links) sk_lookup link(s) still attached to this namespace"
serve tcp 127.90.0.5:80 plain90 || exit 1
expect_conn plain90 tcp 127.90.0.5:80 # the regular lookup is back
finish

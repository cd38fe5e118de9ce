#!/usr/bin/env bash
# steer monitor: every decision the program makes while a monitor is attached
# is one event, and it says what the reference evaluator says (rule, verdict,
# service), or the runtime's fallback when the service has no socket, with
# the pid of the process that got it. Filters run in the kernel and show
# exactly the matching subset; --count and --rate stop and cap; an overrun
# ring buffer counts every event it lost. A monitor follows a re-apply (its
# events name the new lines), and a SIGKILLed monitor's slot comes back when
# its 3 s lease runs out.
source "$(dirname "$0")/lib.sh" "$@"

p=$(policy main <<'P'
# monitor.sh: the line numbers below are checked
service alpha = tcp 127.0.0.1:8201, tcp [fd00::1]:8201
service beta = udp 127.0.0.1:8202
service flood = udp 127.0.0.1:8203
service ghost
service ghost2
match tcp dst { 127.90.0.0/24, fd00:41::/64 } port 80 -> service alpha
match udp dst { 127.91.0.0/24, fd00:41:0:1::/64 } port 53 -> service beta
match tcp dst 127.92.0.0/24 port 80 -> drop
match { tcp, udp } dst 127.93.0.0/24 -> pass
match tcp dst 127.94.0.0/24 port 80 -> service ghost
match { tcp, udp } dst 127.95.0.0/24 port 80 -> service ghost2 or pass
match tcp src 127.50.0.0/16 dst 127.96.0.0/24 port 8000-8099 -> service alpha
match udp dst 127.97.0.0/24 port 9000 -> service flood
P
)
alpha_line=7 # the first alpha rule, as written above

# The traffic. Every socket is bound first (so its address is known even when
# the connect is refused) and UDP senders are connected and kept open to the
# end: replies and ICMP errors then find them in the kernel's connected-socket
# lookup, which runs no sk_lookup program. So each TCP connect and each
# datagram is exactly one decision. Prints "PROTO SRC DST" per decision.
cat >"$tmp/gen.py" <<'PY'
import random, socket, sys, time
keep = []
def ep(a):  # an endpoint as steer monitor prints it
    return f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}"
def sock(proto, src, dst, port):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET,
                      socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    keep.append(s)
    s.settimeout(2)
    s.bind((src, 0))
    return s
def one(proto, src, dst, port):
    s = sock(proto, src, dst, port)
    print(proto, ep(s.getsockname()), ep((dst, port)), flush=True)
    try:
        s.connect((dst, port))
        if proto == "udp":
            s.send(b"x")
    except OSError:
        pass
mode = sys.argv[1]
if mode == "mix":  # mix SEED N: N decisions over the policy's prefixes, every kind at least once
    rng = random.Random(int(sys.argv[2]))
    h = lambda: rng.randint(1, 254)
    kinds = [("tcp", "127.90.0.%d", 80), ("tcp", "fd00:41::%x", 80), ("udp", "127.91.0.%d", 53),
             ("udp", "fd00:41:0:1::%x", 53), ("tcp", "127.92.0.%d", 80), ("tcp", "127.93.0.%d", 0),
             ("udp", "127.93.0.%d", 0), ("tcp", "127.94.0.%d", 80), ("tcp", "127.95.0.%d", 80),
             ("udp", "127.95.0.%d", 80), ("tcp", "127.96.0.%d", -1), ("tcp", "fd00:41::%x", 443),
             ("udp", "127.99.0.%d", 53)]
    todo = kinds + [rng.choice(kinds) for _ in range(int(sys.argv[3]) - len(kinds))]
    rng.shuffle(todo)
    for proto, dst, port in todo:
        port = {0: rng.randint(1024, 60000), -1: rng.randint(7990, 8110)}.get(port, port)
        if ":" in dst:
            src = "fd00::1"
        else:
            src = rng.choice(["127.0.0.1", "127.50.%d.%d" % (rng.randint(0, 255), h())])
        one(proto, src, dst % h(), port)
elif mode == "tcp":  # tcp ADDR PORT: one connect
    one("tcp", "127.0.0.1", sys.argv[2], int(sys.argv[3]))
elif mode == "udp":  # udp ADDR PORT N: N datagrams as fast as can be; prints N and the seconds taken
    s = sock("udp", "127.0.0.1", sys.argv[2], 0)
    s.connect((sys.argv[2], int(sys.argv[3])))
    n, t = int(sys.argv[4]), time.monotonic()
    for _ in range(n):
        s.send(b"x")
    print(n, time.monotonic() - t)
elif mode == "sink":  # sink ADDR PORT: a UDP socket nobody reads: its queue fills, lookups go on
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    print("ready", flush=True)
    time.sleep(600)
time.sleep(0.3)  # replies arrive while the senders still listen
PY
gen() { python3 "$tmp/gen.py" "$@"; }

# mon OUT ARGS...: steer monitor ARGS in the background, its pid in $last_pid.
mon() {
	local out=$1
	shift
	"$steer" monitor --bpffs "$bpffs" "$@" >"$out" 2>"$out.err" &
	last_pid=$!
	pids+=("$last_pid")
}
metric() { # metric SERIES: its value in steer metrics (0 when absent)
	"$steer" metrics --bpffs "$bpffs" | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
# wait_monitors N: until steer metrics counts N monitors attached (so they see the next decision).
wait_monitors() {
	for _ in $(seq 50); do
		[[ $(metric steer_monitors) == "$1" ]] && { sleep 0.1; return 0; }
		sleep 0.1
	done
	fail "steer_monitors never became $1 (is $(metric steer_monitors))"
}
# stop PID: SIGINT and wait: the monitor drains and prints its last not_shown line.
stop() {
	kill -INT "$1" 2>/dev/null
	wait "$1"
}
# errs FILE: what a monitor said on stderr, but the notice that it waits while others start.
errs() { grep -v "waiting for the state lock" "$1"; }
# inorder/tuples [FILE]: "PROTO SRC DST" of each event (not the not_shown lines), as shown / sorted.
inorder() { jq -r 'select(.not_shown == null) | "\(.proto) \(.src) \(.dst)"' "$@"; }
tuples() { inorder "$@" | sort; }
# lost REASON FILE: the sum of the not_shown lines with that reason.
lost() { jq -s --arg r "$1" '[.[] | select(.reason == $r) | .not_shown] | add // 0' "$2"; }

serve tcp 127.0.0.1:8201 alpha4 || exit 1
alpha4=$last_pid
serve tcp '[fd00::1]:8201' alpha6 || exit 1
alpha6=$last_pid
serve udp 127.0.0.1:8202 beta || exit 1
beta4=$last_pid
python3 "$tmp/gen.py" sink 127.0.0.1 8203 >"$tmp/sink" 2>&1 & # not gen: $! must be python's
sink=$!
pids+=("$sink")
for _ in $(seq 50); do grep -q ready "$tmp/sink" && break; sleep 0.1; done
expect_status 0 "apply" st apply "$p"
for s in alpha beta flood; do expect_status 0 "register $s --auto" st register "$s" --auto; done
# Who must receive what: SERVICE/PROTO/FAMILY -> the listener's pid. Any other is no socket.
declare -A sockpid=([alpha/tcp/4]=$alpha4 [alpha/tcp/6]=$alpha6 [beta/udp/4]=$beta4)

## 1+2. One run of traffic, seen by an unfiltered monitor and by seven filtered ones at once (8 slots).
expect_status 1 "monitor --rule nosuch.steer:99" "$steer" monitor --bpffs "$bpffs" --rule nosuch.steer:99
grep -q "nosuch.steer:99" "$tmp/err" && ok "the error names the rule asked for" || fail "error: $(cat "$tmp/err")"
declare -A filters=(
	[verdict]="--verdict drop|.verdict == \"drop\""
	[service]="--service alpha|.service == \"alpha\""
	[rule]="--rule main.steer:$alpha_line|.rule.line == $alpha_line"
	[proto]="--proto udp|.proto == \"udp\""
	[src]="--src 127.50.0.0/16|.src | startswith(\"127.50.\")"
	[dst]="--dst fd00:41::/48|.dst | startswith(\"[fd00:41:\")"
)
mon "$tmp/all.json" --json
all=$last_pid
declare -A fpid=()
for f in "${!filters[@]}"; do
	# shellcheck disable=SC2086 # the options are words
	mon "$tmp/f.$f" --json ${filters[$f]%%|*}
	fpid[$f]=$last_pid
done
mon "$tmp/count.json" --json --count 3
count=$last_pid
wait_monitors 8
gen mix 1729 40 >"$tmp/sent"
sleep 0.5
if kill -0 "$count" 2>/dev/null; then
	fail "monitor --count 3 still runs after 40 decisions"
else
	wait "$count"
	status=$?
	[[ $status == 0 && $(wc -l <"$tmp/count.json") == 3 ]] && ok "--count 3 exited by itself (exit $status) after 3 events" ||
		fail "--count 3: exit $status, $(wc -l <"$tmp/count.json") lines"
fi
stop "$all"
for f in "${!fpid[@]}"; do stop "${fpid[$f]}"; done

n=$(wc -l <"$tmp/sent")
[[ -n $(errs "$tmp/all.json.err") ]] && fail "monitor said on stderr: $(cat "$tmp/all.json.err")"
grep -q not_shown "$tmp/all.json" && fail "the unfiltered monitor lost events: $(grep not_shown "$tmp/all.json")"
events=$(tuples "$tmp/all.json" | wc -l)
if diff <(sort "$tmp/sent") <(tuples "$tmp/all.json") >"$tmp/d"; then
	ok "$events events: one per decision caused ($n), with the same addresses and ports"
else
	fail "$events events for $n decisions; sent vs seen:"
	head -20 "$tmp/d"
fi
diff <(inorder "$tmp/all.json" | head -3) <(inorder "$tmp/count.json") >/dev/null && ok "--count 3 showed the first 3" ||
	fail "--count 3 showed $(inorder "$tmp/count.json" | tr '\n' ';')"

# Each event against steer eval: the same rule (number, file, line, column,
# action) and verdict; a service's verdict is the fallback (drop, or pass with
# "or pass", reason no_socket) exactly when that service has no socket for the
# protocol and family, and otherwise names the listener's pid.
bad=0
checked=0
while IFS= read -r ev; do
	IFS=$'\t' read -r proto src dst verdict service reason fam procs rule < <(jq -r '[.proto, .src, .dst, .verdict,
		.service // "-", .reason // "-", (if (.src | startswith("[")) then 6 else 4 end),
		([.socket.processes[]?.pid | tostring] | join(",") | if . == "" then "-" else . end), (.rule | tojson)] | @tsv' <<<"$ev")
	want=$("$steer" eval "$p" "$proto" "$src" "$dst" --json)
	IFS=$'\t' read -r wverdict wservice waction wrule < <(jq -r '[.verdict, .service // "-", .rule.action // "-", (.rule | tojson)] | @tsv' <<<"$want")
	key=$wservice/$proto/$fam
	if [[ $wrule == null ]]; then
		expect="miss - - -"
	elif [[ $wverdict == service && -n ${sockpid[$key]:-} ]]; then
		expect="service $wservice - ${sockpid[$key]}"
	elif [[ $wverdict == service ]]; then
		[[ $waction == *"or pass" ]] && expect="pass $wservice no_socket -" || expect="drop $wservice no_socket -"
	else
		expect="$wverdict - - -"
	fi
	got="$verdict $service $reason $procs"
	checked=$((checked + 1))
	if [[ $got != "$expect" || $rule != "$wrule" ]]; then
		bad=$((bad + 1))
		[[ $bad -le 5 ]] && echo "  $proto $src -> $dst: monitor '$got' $rule; eval wants '$expect' $wrule"
	fi
done < <(grep -v not_shown "$tmp/all.json")
kinds=$(jq -r .verdict "$tmp/all.json" | sort -u | tr '\n' ' ')
[[ $bad == 0 && $checked -ge 40 ]] && ok "all $checked events agree with steer eval (verdicts: $kinds)" ||
	fail "$bad of $checked events disagree with steer eval"

# Each filter shows exactly the unfiltered events that match it, and some.
for f in "${!filters[@]}"; do
	pred=${filters[$f]#*|}
	want=$(jq -c "select(.not_shown == null) | select($pred)" "$tmp/all.json" | tuples)
	got=$(tuples "$tmp/f.$f")
	if [[ -n $want && $got == "$want" && -z $(errs "$tmp/f.$f.err") ]]; then
		ok "${filters[$f]%%|*}: exactly the $(wc -l <<<"$got") matching events"
	else
		fail "${filters[$f]%%|*}: $(wc -l <<<"$got") events, want $(wc -l <<<"$want") [$(errs "$tmp/f.$f.err")]"
		diff <(echo "$want") <(echo "$got") | head -5
	fi
done

## 2b. --rate 5: 200 datagrams in under a second: at most two windows' worth shown, the rest counted.
mon "$tmp/rate.json" --json --rate 5
rate=$last_pid
wait_monitors 1
read -r sent secs < <(gen udp 127.91.0.7 53 200)
stop "$rate"
shown=$(tuples "$tmp/rate.json" | wc -l)
limited=$(lost rate "$tmp/rate.json")
cap=$((5 * ($(printf '%.0f' "$secs") + 2)))
[[ $shown -ge 1 && $shown -le $cap && $((shown + limited)) == "$sent" ]] &&
	ok "--rate 5: $sent decisions in ${secs:0:5} s: $shown shown, $limited not_shown (rate)" ||
	fail "--rate 5: $sent decisions in $secs s: $shown shown (want 1..$cap), $limited not_shown (rate)"

## 3. A 4 KiB ring buffer overrun by 50000 datagrams: what it lost is counted, to the decision.
key='steer_decisions_total{service="flood",verdict="service"}'
before=$(metric "$key")
mon "$tmp/flood.json" --json --buffer 4096
flood=$last_pid
wait_monitors 1
read -r sent secs < <(gen udp 127.97.0.1 9000 50000)
stop "$flood"
after=$(metric "$key")
shown=$(tuples "$tmp/flood.json" | wc -l)
full=$(lost buffer_full "$tmp/flood.json")
[[ $((after - before)) == "$sent" ]] && ok "steer metrics counted the $sent datagrams (${secs:0:5} s)" ||
	fail "steer metrics: $((after - before)) flood decisions for $sent datagrams"
[[ $full -gt 0 && $((shown + full)) == $((after - before)) ]] &&
	ok "--buffer 4096: $shown shown + $full not_shown (buffer_full) = $((after - before)) decisions" ||
	fail "--buffer 4096: $shown shown + $full not_shown (buffer_full), want > 0 lost and $((after - before)) in all"
jq --argjson pid "$sink" 'select(.not_shown == null) | .service == "flood" and .socket.processes[0].pid == $pid' \
	"$tmp/flood.json" | grep -qv true && fail "a flood event does not name the sink" || ok "the flood events name the sink's pid"

## 4+5. A monitor follows a re-apply that moves the rule; the counters carry over.
key='steer_decisions_total{service="alpha",verdict="service"}'
mon "$tmp/reapply.json" --json --service alpha
re=$last_pid
wait_monitors 1
gen tcp 127.90.0.1 80 >/dev/null
c1=$(metric "$key")
# The same file, edited: a drop rule above alpha's, so that rule is now 2 lines further down.
sed -i "${alpha_line}i # added later\nmatch tcp dst 127.98.0.0/24 port 80 -> drop" "$p"
expect_status 0 "re-apply the edited policy, monitor running" st apply "$p"
c2=$(metric "$key")
gen tcp 127.90.0.1 80 >/dev/null
sleep 0.3
c3=$(metric "$key")
kill -0 "$re" 2>/dev/null && ok "the monitor still runs after the re-apply" || fail "the monitor exited at the re-apply: $(cat "$tmp/reapply.json.err")"
stop "$re"
lines=$(jq -r '"\(.rule.line) \(.rule.number) \(.socket.processes[0].pid)"' "$tmp/reapply.json" | tr '\n' ' ')
[[ $lines == "$alpha_line 1 $alpha4 $((alpha_line + 2)) 2 $alpha4 " ]] &&
	ok "events before and after the re-apply name line $alpha_line, then $((alpha_line + 2))" ||
	fail "re-apply events name (line number pid): $lines; want $alpha_line 1 $alpha4, $((alpha_line + 2)) 2 $alpha4"
[[ $c2 -ge $c1 && $c3 == $((c2 + 1)) ]] && ok "$key: $c1, after the re-apply $c2, after one more connect $c3" ||
	fail "$key: $c1 before the re-apply, $c2 after, $c3 after one more connect: went down or missed it"

## 4b. SIGKILLed monitors: their slots stay taken until their 3 s lease runs out, then come back.
killed=()
for i in $(seq 8); do
	mon "$tmp/k$i.json" --json
	killed+=("$last_pid")
done
wait_monitors 8
{
	kill -KILL "${killed[@]}"
	wait "${killed[@]}"
} 2>/dev/null # no "Killed" notices
expect_status 2 "a 9th monitor while 8 killed ones hold their leases" timeout 5 "$steer" monitor --bpffs "$bpffs" --json --count 1
grep -q "attached already" "$tmp/err" && ok "it says all slots are taken" || fail "error: $(cat "$tmp/err")"
sleep 3.6
m=$(metric steer_monitors)
[[ $m == 0 ]] && ok "steer_monitors is 0 once the killed monitors' leases ran out" ||
	fail "steer_monitors is $m 3.6 s after 8 monitors were SIGKILLed (their leases ran out: want 0)"
mon "$tmp/new.json" --json --count 1
new=$last_pid
wait_monitors 1
gen tcp 127.90.0.1 80 >/dev/null
for _ in $(seq 20); do kill -0 "$new" 2>/dev/null || break; sleep 0.1; done
[[ $(jq -r .service "$tmp/new.json" 2>/dev/null) == alpha ]] && ok "a new monitor took a reclaimed slot and saw the connection" ||
	fail "the new monitor saw '$(cat "$tmp/new.json")' $(cat "$tmp/new.json.err")"
stop "$new"
m=$(metric steer_monitors)
[[ $m == 0 ]] && ok "steer_monitors is 0 after the new monitor exited" || fail "steer_monitors is $m after every monitor exited"
## 6. --established: the bytes each service's process moves on the connections it accepted.
e=$(policy est <<'P'
service bulk = tcp 127.0.0.1:8301
match tcp dst 127.98.0.0/24 port 80 -> service bulk
P
)
expect_status 0 "apply a policy with a bulk service" st apply "$e"
# The server takes 100000 bytes from each of two connections and sends 300000
# back, then holds them open; the clients do the same from their side.
cat >"$tmp/bulk.py" <<'PY'
import socket, sys, time
def full(s, n):
    got = 0
    while got < n:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
if sys.argv[1] == "server":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", 8301)); l.listen(8); print("ready", flush=True)
    conns = []
    for _ in range(2):
        c, _ = l.accept(); full(c, 100000); c.sendall(b"y" * 300000); conns.append(c)
    time.sleep(30)
else:
    cs = []
    for dst in ("127.98.0.1", "127.98.0.2"):
        c = socket.create_connection((dst, 80)); c.sendall(b"x" * 100000); full(c, 300000); cs.append(c)
    print("done", flush=True)
    time.sleep(30)
PY
python3 "$tmp/bulk.py" server >"$tmp/bulk.server" &
bulk_pid=$!
pids+=("$bulk_pid")
for _ in $(seq 50); do grep -q ready "$tmp/bulk.server" && break; sleep 0.1; done
expect_status 0 "register bulk --auto" st register bulk --auto
python3 "$tmp/bulk.py" client >"$tmp/bulk.client" &
pids+=($!)
for _ in $(seq 100); do grep -q done "$tmp/bulk.client" && break; sleep 0.1; done
timeout 10 "$steer" monitor --bpffs "$bpffs" --established --json --interval 0.3 --count 2 >"$tmp/est.json" 2>"$tmp/est.err"
row=$(jq -c "select(.service == \"bulk\")" "$tmp/est.json" | tail -n 1)
if [[ $(jq -r .pid <<<"$row") == "$bulk_pid" && $(jq -r .connections <<<"$row") == 2 &&
	$(jq -r '.bytes_in >= 200000 and .bytes_out >= 600000' <<<"$row") == true ]]; then
	ok "--established: bulk's process $bulk_pid, 2 connections, >= 200000 bytes in and 600000 out"
else
	fail "--established showed '$row' (want pid $bulk_pid, 2 connections, 200000 in, 600000 out) $(cat "$tmp/est.err")"
fi
## 7. The monitor's code is verified once, not once per leaf: a 64-rule tree program still loads
## (it did not while the event writer was a static function: 1000000 instructions processed).
"$(dirname "$steer")/genpolicy" 64 --mix anycast --seed 1 >"$tmp/g64.steer"
expect_status 0 "a 64-rule tree policy applies" st apply "$tmp/g64.steer" --strategy tree
finish

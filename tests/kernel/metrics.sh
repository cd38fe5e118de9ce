#!/usr/bin/env bash
# steer metrics: the Prometheus exposition, its values and a real scrape.
#   1. Nothing applied: exit 0, steer_policy_applied 0, promtool accepts it.
#   2. Known numbers of connections of each kind (to a service with a socket,
#      to one without, to a drop rule, a pass rule, and to no rule): every
#      counter and gauge is exactly that; promtool finds no problem, with and
#      without --per-rule.
#   3. A re-apply of an edited policy (a rule moved down a line, a new rule
#      inserted): totals do not decrease and then grow by exactly the new
#      connections; an unchanged rule's series keeps its count, a moved rule's
#      new series and a new rule's count only what they decided since.
#   4. --listen: 200 with the 0.0.4 text Content-Type at /metrics, 404
#      elsewhere, 405 for POST, exit 0 on SIGTERM; a bad address exits 1.
#   5. Prometheus itself scrapes it: up is 1 and a query returns the counter.
# Every lookup in this namespace counts (a scrape is a miss too), so the
# counts are read before anything but the test's own connections runs.
source "$(dirname "$0")/lib.sh" "$@"

for c in python3 curl jq promtool prometheus; do
	command -v "$c" >/dev/null || _cannot_run "needs $c (scripts/deps.sh installs it)"
done
started=$SECONDS

# metrics FILE [options]: steer metrics of this test's state into FILE; its exit status.
metrics() {
	local out=$1
	shift
	"$steer" metrics --bpffs "$bpffs" "$@" >"$out" 2>"$tmp/metrics.err"
}
# value FILE SERIES: the sample's value, or "absent" (a label value may hold a space: "service a").
value() {
	awk -v k="$2 " 'index($0, k) == 1 { print $NF; found = 1 } END { if (!found) print "absent" }' "$1"
}
# expect_value FILE SERIES WANT [why]
expect_value() {
	local got
	got=$(value "$1" "$2")
	if [[ $got == "$3" ]]; then
		ok "$2 $got${4:+ ($4)}"
	else
		fail "$2 is $got, want $3${4:+ ($4)}"
	fi
}
# promcheck FILE WHAT: promtool check metrics says nothing and exits 0.
promcheck() {
	local out status
	out=$(promtool check metrics <"$1" 2>&1)
	status=$?
	if [[ $status -eq 0 && -z $out ]]; then
		ok "promtool check metrics: $2"
	else
		fail "promtool check metrics: $2: exit $status, said:"
		sed 's/^/    /' <<<"$out"
	fi
}
# conns WANT N HOST PORT: N TCP connections, one after the other; each must end as WANT (ok or refused).
cat >"$tmp/conn.py" <<'PY'
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = {}
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        r = "ok"
    except ConnectionRefusedError:
        r = "refused"
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = e.strerror.replace(" ", "_")
    finally:
        s.close()
    seen[r] = seen.get(r, 0) + 1
print(" ".join(f"{k}={v}" for k, v in sorted(seen.items())))
PY
conns() {
	local want=$1 n=$2 got
	got=$(python3 "$tmp/conn.py" "$3" "$4" "$n" 2>&1)
	[[ $got == "$want=$n" ]] && ok "$n connections to $3:$4: $got" || fail "$n connections to $3:$4: '$got', want $want=$n"
}

# 1. Nothing applied.
expect_status 0 "metrics with no policy applied" metrics "$tmp/m0"
expect_value "$tmp/m0" steer_policy_applied 0
promcheck "$tmp/m0" "no policy applied"

# 2. A policy, a server for service a, none for b.
p=$(policy metrics <<'P'
service a = tcp 127.0.0.1:8401
service b
match tcp dst 127.91.0.0/24 port 80 -> service a
match tcp dst 127.92.0.0/24 port 80 -> service b
match tcp dst 127.93.0.0/24 port 80 -> drop
match tcp dst 127.94.0.0/24 port 80 -> pass
P
)
python3 -c 'import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8401)); s.listen(128); print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()' >"$tmp/server" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$tmp/server" && break; sleep 0.05; done
grep -q ready "$tmp/server" || { fail "the python3 server did not start: $(cat "$tmp/server")"; finish; exit; }
expect_status 0 "apply" st apply "$p"
expect_status 0 "register a --auto" st register a --auto

N1=5 N2=3 N3=4 N4=2 N5=6
conns ok $N1 127.91.0.1 80      # service a: its socket takes them
conns refused $N2 127.92.0.2 80 # service b: no socket, so the rule drops
conns refused $N3 127.93.0.3 80 # drop
conns refused $N4 127.94.0.4 80 # pass: the regular lookup, where nothing listens
conns ok $N5 127.0.0.1 8401     # no rule: the regular lookup finds the server

expect_status 0 "metrics" metrics "$tmp/m1"
expect_status 0 "metrics --per-rule" metrics "$tmp/m1r" --per-rule
expect_value "$tmp/m1" steer_policy_applied 1
expect_value "$tmp/m1" steer_policy_rules 4
expect_value "$tmp/m1" 'steer_decisions_total{service="a",verdict="service"}' $N1
expect_value "$tmp/m1" 'steer_decisions_total{service="a",verdict="drop"}' 0
expect_value "$tmp/m1" 'steer_decisions_total{service="b",verdict="service"}' 0
expect_value "$tmp/m1" 'steer_decisions_total{service="b",verdict="drop"}' $N2 "fell back: no socket"
expect_value "$tmp/m1" 'steer_decisions_total{service="b",verdict="pass"}' 0
expect_value "$tmp/m1" 'steer_errors_total{service="b",reason="no_socket"}' $N2
expect_value "$tmp/m1" 'steer_errors_total{service="a",reason="no_socket"}' 0
expect_value "$tmp/m1" 'steer_decisions_total{verdict="drop"}' $N3
expect_value "$tmp/m1" 'steer_decisions_total{verdict="pass"}' $N4
expect_value "$tmp/m1" steer_misses_total $N5
expect_value "$tmp/m1" 'steer_service_sockets{service="a",proto="tcp",family="4"}' 1
expect_value "$tmp/m1" 'steer_service_sockets{service="b",proto="tcp",family="4"}' 0
expect_value "$tmp/m1" steer_services_without_socket 1
grep -q '^steer_rule_hits_total' "$tmp/m1" && fail "steer_rule_hits_total without --per-rule" ||
	ok "no steer_rule_hits_total without --per-rule"
expect_value "$tmp/m1r" "steer_rule_hits_total{rule=\"$p:3:1\",action=\"service a\"}" $N1
expect_value "$tmp/m1r" "steer_rule_hits_total{rule=\"$p:4:1\",action=\"service b\"}" $N2
expect_value "$tmp/m1r" "steer_rule_hits_total{rule=\"$p:5:1\",action=\"drop\"}" $N3
expect_value "$tmp/m1r" "steer_rule_hits_total{rule=\"$p:6:1\",action=\"pass\"}" $N4
promcheck "$tmp/m1" "a policy applied"
promcheck "$tmp/m1r" "a policy applied, --per-rule"

# 3. Re-apply, the same file edited: a new rule at line 5 (service a), so drop and pass move down a line.
policy metrics >/dev/null <<'P'
service a = tcp 127.0.0.1:8401
service b
match tcp dst 127.91.0.0/24 port 80 -> service a
match tcp dst 127.92.0.0/24 port 80 -> service b
match tcp dst 127.95.0.0/24 port 80 -> service a
match tcp dst 127.93.0.0/24 port 80 -> drop
match tcp dst 127.94.0.0/24 port 80 -> pass
P
expect_status 0 "re-apply the edited policy" st apply "$p"
expect_status 0 "metrics --per-rule after the re-apply" metrics "$tmp/m2" --per-rule
expect_value "$tmp/m2" steer_policy_rules 5
got=$(value "$tmp/m2" 'steer_decisions_total{service="a",verdict="service"}')
[[ $got =~ ^[0-9]+$ && $got -ge $N1 ]] && ok "service a's decisions did not decrease: $got" ||
	fail "service a's decisions went from $N1 to $got on re-apply"
expect_value "$tmp/m2" 'steer_decisions_total{service="a",verdict="service"}' $N1 "no lookup since"
expect_value "$tmp/m2" 'steer_decisions_total{service="b",verdict="drop"}' $N2
expect_value "$tmp/m2" 'steer_errors_total{service="b",reason="no_socket"}' $N2
expect_value "$tmp/m2" 'steer_decisions_total{verdict="drop"}' $N3
expect_value "$tmp/m2" 'steer_decisions_total{verdict="pass"}' $N4
expect_value "$tmp/m2" steer_misses_total $N5
expect_value "$tmp/m2" 'steer_service_sockets{service="a",proto="tcp",family="4"}' 1 "the socket stays"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:3:1\",action=\"service a\"}" $N1 "unchanged rule keeps its count"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:4:1\",action=\"service b\"}" $N2 "unchanged rule keeps its count"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:5:1\",action=\"service a\"}" 0 "new rule where drop was, no hit yet: --help says one series per rule"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:5:1\",action=\"drop\"}" absent "the moved rule's old series"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:6:1\",action=\"drop\"}" 0 "moved rule starts anew: no hit yet, but one series per rule"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:6:1\",action=\"pass\"}" absent "the moved rule's old series"
expect_value "$tmp/m2" "steer_rule_hits_total{rule=\"$p:7:1\",action=\"pass\"}" 0 "moved rule starts anew: no hit yet, but one series per rule"
promcheck "$tmp/m2" "after a re-apply, --per-rule"

M1=3 M2=2 M3=2 M4=1 M5=4
conns ok $M1 127.91.0.11 80      # rule 3, service a
conns ok $M2 127.95.0.12 80      # rule 5 (new), service a
conns refused $M3 127.93.0.13 80 # rule 6 (moved), drop
conns refused $M4 127.92.0.14 80 # rule 4, service b: no socket
conns refused $M5 127.94.0.15 80 # rule 7 (moved), pass
expect_status 0 "metrics --per-rule after new connections" metrics "$tmp/m3" --per-rule
A=$((N1 + M1 + M2))
expect_value "$tmp/m3" 'steer_decisions_total{service="a",verdict="service"}' $A "grew by exactly the new connections"
expect_value "$tmp/m3" 'steer_decisions_total{service="b",verdict="drop"}' $((N2 + M4))
expect_value "$tmp/m3" 'steer_errors_total{service="b",reason="no_socket"}' $((N2 + M4))
expect_value "$tmp/m3" 'steer_decisions_total{verdict="drop"}' $((N3 + M3))
expect_value "$tmp/m3" 'steer_decisions_total{verdict="pass"}' $((N4 + M5))
expect_value "$tmp/m3" steer_misses_total $N5
expect_value "$tmp/m3" "steer_rule_hits_total{rule=\"$p:3:1\",action=\"service a\"}" $((N1 + M1))
expect_value "$tmp/m3" "steer_rule_hits_total{rule=\"$p:4:1\",action=\"service b\"}" $((N2 + M4))
expect_value "$tmp/m3" "steer_rule_hits_total{rule=\"$p:5:1\",action=\"service a\"}" $M2
expect_value "$tmp/m3" "steer_rule_hits_total{rule=\"$p:6:1\",action=\"drop\"}" $M3 "the moved rule: its new hits only"
expect_value "$tmp/m3" "steer_rule_hits_total{rule=\"$p:7:1\",action=\"pass\"}" $M5 "the moved rule: its new hits only"
promcheck "$tmp/m3" "after new connections, --per-rule"

# 4. Served over HTTP.
expect_status 1 "metrics --listen bogus" "$steer" metrics --bpffs "$bpffs" --listen bogus
port=9431
"$steer" metrics --bpffs "$bpffs" --per-rule --listen 127.0.0.1:$port >"$tmp/listen.out" 2>"$tmp/listen.err" &
listener=$!
pids+=("$listener")
for _ in $(seq 100); do grep -q serving "$tmp/listen.err" && break; sleep 0.05; done
if grep -q "serving http://127.0.0.1:$port/metrics" "$tmp/listen.err"; then
	ok "metrics --listen 127.0.0.1:$port: $(cat "$tmp/listen.err")"
else
	fail "metrics --listen did not start: $(cat "$tmp/listen.err")"
fi
url=http://127.0.0.1:$port
curl -s -D "$tmp/h1" -o "$tmp/served" --max-time 5 "$url/metrics"
status=$(head -n1 "$tmp/h1" | tr -d '\r')
[[ $status == "HTTP/1.1 200"* ]] && ok "GET /metrics: $status" || fail "GET /metrics: '$status', want 200"
ctype=$(grep -i '^content-type:' "$tmp/h1" | tr -d '\r')
[[ ${ctype,,} == "content-type: text/plain; version=0.0.4"* ]] && ok "$ctype" ||
	fail "GET /metrics: '$ctype', want Content-Type: text/plain; version=0.0.4"
expect_value "$tmp/served" 'steer_decisions_total{service="a",verdict="service"}' $A "served"
expect_value "$tmp/served" "steer_rule_hits_total{rule=\"$p:6:1\",action=\"drop\"}" $M3 "served"
promcheck "$tmp/served" "served at /metrics"
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/nosuch")
[[ $status == 404 ]] && ok "GET /nosuch: $status" || fail "GET /nosuch: $status, want 404"
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -d x "$url/metrics")
[[ $status == 405 ]] && ok "POST /metrics: $status" || fail "POST /metrics: $status, want 405"

# 5. Prometheus scrapes it.
pport=9490
mkdir -p "$tmp/prom"
cat >"$tmp/prom/prometheus.yml" <<Y
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: steer
    static_configs:
      - targets: ['127.0.0.1:$port']
Y
prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
	--web.listen-address=127.0.0.1:$pport >"$tmp/prom/log" 2>&1 &
prom=$!
pids+=("$prom")
# query EXPR: the values of EXPR's instant vector, "labels value" a line.
query() {
	curl -s --max-time 5 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
		jq -r '.data.result[] | "\(.metric | del(.__name__) | to_entries | map("\(.key)=\(.value)") | join(",")) \(.value[1])"' 2>/dev/null
}
up=
for _ in $(seq 200); do
	up=$(query 'up{job="steer"}')
	[[ $up == *" 1" ]] && break
	kill -0 "$prom" 2>/dev/null || break
	sleep 0.1
done
if [[ $up == *" 1" ]]; then
	ok "prometheus: up{job=\"steer\"}: $up"
else
	fail "prometheus: up{job=\"steer\"} is '$up' after 20 s; its log:"
	tail -n 20 "$tmp/prom/log"
fi
got=$(query 'steer_decisions_total{service="a",verdict="service"}')
[[ $got == "instance=127.0.0.1:$port,job=steer,service=a,verdict=service $A" ]] &&
	ok "prometheus: steer_decisions_total{service=\"a\",verdict=\"service\"}: $got" ||
	fail "prometheus: steer_decisions_total{service=\"a\",verdict=\"service\"} is '$got', want $A"
got=$(query "steer_rule_hits_total{action=\"drop\"}")
[[ $got == "action=drop,instance=127.0.0.1:$port,job=steer,rule=$p:6:1 $M3" ]] &&
	ok "prometheus: steer_rule_hits_total{action=\"drop\"}: $got" ||
	fail "prometheus: steer_rule_hits_total{action=\"drop\"} is '$got', want rule=$p:6:1 $M3"
kill "$prom"
wait "$prom" 2>/dev/null

kill -TERM "$listener"
wait "$listener"
status=$?
[[ $status -eq 0 ]] && ok "metrics --listen exits 0 on SIGTERM" || fail "metrics --listen: exit $status on SIGTERM; stderr: $(cat "$tmp/listen.err")"

echo "metrics.sh: $((SECONDS - started)) s"
finish

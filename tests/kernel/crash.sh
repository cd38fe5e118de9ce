#!/usr/bin/env bash
# Crash safety: `apply` and `detach` are transactions. Each is killed (SIGKILL)
# on entry to each of its state-changing system calls in turn, under both
# strategies, in three scenarios: a first apply (nothing -> A), a re-apply
# (A -> B) and a detach (A -> nothing). After every kill:
#   1. traffic matches exactly one of the two states, the old or the new;
#   2. status --json (exit 0) names that one: applied false, or the sha256 of
#      the policy file that traffic says is running;
#   3. the next apply (of A or B) succeeds and names its policy, then detach does;
#   4. after that detach nothing stale stays: no pin under $bpffs/steer and no
#      sk_lookup link attached to this network namespace;
# and no steer command after a kill says "File exists", "no policy metadata"
# or "severed".
#
# How a kill point is reached: strace counts injections per system call and per
# process, so "-e inject=SET:when=K" would kill at the K-th bpf() or the K-th
# unlink(), whichever comes first. The K-th call of the whole sequence is named
# instead by its system call S and its rank J among the calls of S:
# "-e inject=S:signal=KILL:when=J". Without -f: steer is one thread and
# applying a built policy starts no child (a runtime that starts threads would
# need -f and a count per thread).
# strace dies of the tracee's signal, so a kill shows as exit 137, and the
# killed run's log ends with call K.
source "$(dirname "$0")/lib.sh" "$@"

command -v strace >/dev/null || _cannot_run "needs strace (scripts/deps.sh installs it)"
# LeakSanitizer cannot run under a tracer; the sanitizer build's other tests look for leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

calls=bpf,mkdir,mkdirat,rmdir,unlink,unlinkat,rename,renameat,renameat2,flock
ns_ino=$(stat -L -c %i /proc/self/ns/net)
started=$SECONDS

# Two probes tell the three states apart: 127.70.0.1:80 and 127.71.0.1:80 get
#   nothing applied: plain70, plain71 (the regular lookup)
#   A: one (refused while one has no socket registered), plain71
#   B: refused (drop), one
# A and B have the same service, so a re-apply keeps its registered socket and
# B's traffic shows without registering anything after the kill.
a=$(policy a <<'P'
service one = tcp 127.0.0.1:8101
match tcp dst 127.70.0.0/24 port 80 -> service one
match tcp dst 127.71.0.0/24 port 80 -> pass
P
)
b=$(policy b <<'P'
service one = tcp 127.0.0.1:8101
match tcp dst 127.70.0.0/24 port 80 -> drop
match tcp dst 127.71.0.0/24 port 80 -> service one
P
)
# Applied as built policies, compiled once per strategy: apply's state-changing
# calls are the same as from the text, and no clang runs between the kills.
declare -A built
for strategy in tree table; do
	for p in A B; do
		built[$p.$strategy]=$tmp/$p.$strategy.built
		src=$a
		[[ $p == B ]] && src=$b
		"$steer" compile "$src" --strategy "$strategy" -o "${built[$p.$strategy]}" 2>"$tmp/compile.err" ||
			{ fail "cannot compile $p: $(cat "$tmp/compile.err")"; finish; exit 1; }
	done
done
declare -A sha=([A]=$(sha256sum "$a" | cut -d' ' -f1) [B]=$(sha256sum "$b" | cut -d' ' -f1))
serve tcp 127.0.0.1:8101 one || exit 1
serve tcp 127.70.0.1:80 plain70 || exit 1
serve tcp 127.71.0.1:80 plain71 || exit 1

traffic() {
	local r1 r2
	r1=$("$namesrv" connect tcp 127.70.0.1:80 --timeout 1000 2>&1)
	r2=$("$namesrv" connect tcp 127.71.0.1:80 --timeout 1000 2>&1)
	echo "$r1 $r2"
}

# What status --json in $tmp/after.out names: A, B, none, or the sha256 it has.
named() {
	local h
	h=$(jq -r 'if .applied then .policy.sha256 else "none" end' "$tmp/after.out" 2>/dev/null)
	case $h in
	"${sha[A]}") echo A ;;
	"${sha[B]}") echo B ;;
	*) echo "${h:-nothing parseable}" ;;
	esac
}

# reset none|A STRATEGY: unpins everything, then applies A and registers its socket.
reset() {
	rm -rf "$bpffs/steer"
	no_links || { echo "reset: an sk_lookup link stays"; return 1; }
	[[ $1 == none ]] && return 0
	if ! st apply "${built[A.$2]}" >/dev/null 2>"$tmp/reset.err" || ! st register one --auto >/dev/null 2>>"$tmp/reset.err"; then
		echo "reset: $(head -1 "$tmp/reset.err")"
		return 1
	fi
}

# calls_in LOG: the system calls strace logged, one a line.
calls_in() { grep -E '^[a-z0-9_]+\(' "$1"; }

# label LINE: a logged call, short: "bpf BPF_OBJ_PIN sockets", "rename hits_new".
label() {
	local name=${1%%(*} what=
	if [[ $name == bpf ]]; then
		what=${1#bpf(}
		what=${what%%[, )]*}
		[[ $1 =~ (pathname|map_name)=\"([^\"]*)\" ]] && what+=" ${BASH_REMATCH[2]##*/}"
	elif [[ $1 =~ \"([^\"]*)\" ]]; then
		what=${BASH_REMATCH[1]##*/}
		[[ $what == steer-clang-* ]] && what='steer-clang-*'
	fi
	echo "$name${what:+ $what}"
}

# short FILE: one line of a command's stderr, the one that says most: a phrase
# no command may say after a kill, else steer's own error, else the first.
forbidden='File exists|no policy metadata|severed'
short() {
	{ grep -m1 -E "$forbidden" "$1" || grep -m1 '^steer:' "$1" || head -1 "$1"; } |
		sed "s|^steer: error: ||; s|^libbpf: ||; s|$bpffs/steer/$ns_ino/||g; s|$tmp/||g" | cut -c1-120
}

# call LINE: what must match between the logged sequence and a killed run's
# last call: the system call and bpf's command (paths may hold random names).
call() {
	local c=${1%%(*} cmd=${1#bpf(}
	[[ $c == bpf ]] && c+=" ${cmd%%[, )]*}"
	echo "$c"
}

# kill_at K: runs $argv under strace, killed on entry to call K of $seq; sets $killed.
kill_at() {
	local k=$1 s line j=0 rc got last
	line=${seq[k - 1]}
	s=${line%%(*}
	for ((i = 0; i < k; i++)); do [[ ${seq[i]%%(*} == "$s" ]] && j=$((j + 1)); done
	{ strace -qq -o "$tmp/kill.log" -e signal=none -e trace="$calls" -e inject="$s":signal=KILL:when="$j" \
		"${argv[@]}" >/dev/null 2>"$tmp/kill.err"; } 2>/dev/null
	rc=$?
	# What clang left in /tmp when the kill came between its directory and its removal.
	grep -o '^mkdir("/tmp/steer-clang-[A-Za-z0-9]*"' "$tmp/kill.log" | cut -d'"' -f2 | xargs -r rm -rf
	got=$(calls_in "$tmp/kill.log" | wc -l)
	last=$(calls_in "$tmp/kill.log" | tail -1)
	killed=0
	if [[ $rc -eq 137 && $got -eq $k && $(call "$last") == "$(call "$line")" ]]; then
		killed=1
	else
		problems+=("not killed at call $k: exit $rc after $got calls, the last $(label "$last")")
	fi
}

# after WHAT STEER-ARGS...: a steer command after a kill, its exit status in
# $arc. Its stderr must not say what a broken transaction says (when it fails,
# the failure is reported with that line).
after() {
	local what=$1
	shift
	st "$@" >"$tmp/after.out" 2>"$tmp/after.err"
	arc=$?
	[[ $arc -eq 0 ]] && grep -qE "$forbidden" "$tmp/after.err" && problems+=("$what said '$(short "$tmp/after.err")'")
	return $arc
}
# failed WHAT: how the last `after` failed.
failed() { echo "$1 exit $arc ($(short "$tmp/after.err"))"; }

# scenario NAME STRATEGY PRE OLD NEW OLD_TRAFFIC NEW_TRAFFIC STEER-ARGS...
scenario() {
	local name=$1 strategy=$2 pre=$3 old=$4 new=$5 old_traffic=$6 new_traffic=$7 t0=$SECONDS n kills=0 k running next
	shift 7
	argv=("$steer" "$1" --bpffs "$bpffs" "${@:2}")
	local what="$strategy $name"
	echo "# $what: ${*/#$tmp\//}, $old -> $new"

	# Once without a kill: the sequence of calls, and the two states as traffic shows them.
	problems=()
	reset "$pre" "$strategy" >"$tmp/reset.out" || { fail "$what: $(cat "$tmp/reset.out")"; return; }
	[[ $(traffic) == "$old_traffic" ]] || problems+=("before: traffic $(traffic), want $old_traffic")
	if ! strace -qq -o "$tmp/count.log" -e signal=none -e trace="$calls" "${argv[@]}" >/dev/null 2>"$tmp/count.err"; then
		fail "$what without a kill: $(short "$tmp/count.err")"
		return
	fi
	[[ $(traffic) == "$new_traffic" ]] || problems+=("after: traffic $(traffic), want $new_traffic")
	mapfile -t seq < <(calls_in "$tmp/count.log")
	cp "$tmp/count.log" "$tmp/count.$strategy.$name"
	n=${#seq[@]}
	[[ ${#problems[@]} -eq 0 && $n -gt 0 ]] && ok "$what without a kill: $n calls" ||
		{ fail "$what without a kill: $n calls; ${problems[*]}"; return; }

	for ((k = 1; k <= n; k++)); do
		problems=()
		local at
		at="$what k=$k/$n $(label "${seq[k - 1]}")"
		if ! reset "$pre" "$strategy" >"$tmp/reset.out"; then
			fail "$at: $(cat "$tmp/reset.out")"
			continue
		fi
		kill_at "$k"
		kills=$((kills + killed))

		# 1. Traffic is the old state or the new one, and 2. status names the same.
		# Nothing runs between the two but the kernel freeing what the killed
		# process held, so a disagreement is looked at again, a few times.
		local got
		for _ in 1 2 3 4 5; do
			got=$(traffic)
			case $got in
			"$old_traffic") running=$old ;;
			"$new_traffic") running=$new ;;
			*) running= ;;
			esac
			after status status --json || break
			[[ -n $running && $(named) == "$running" ]] && break
			sleep 0.1
		done
		[[ -n $running ]] || problems+=("traffic '$got' is neither $old nor $new")
		if [[ $arc -ne 0 ]]; then
			problems+=("$(failed status)")
		elif [[ -n $running && $(named) != "$running" ]]; then
			problems+=("status says $(named)")
		fi
		# 3. The next apply, then detach.
		next=A
		((k % 2 == 0)) && next=B
		if after "apply $next" apply "${built[$next.$strategy]}"; then
			if ! after status status --json; then
				problems+=("$(failed "status after apply $next")")
			elif [[ $(named) != "$next" ]]; then
				problems+=("after apply $next status says $(named)")
			fi
		else
			problems+=("$(failed "apply $next")")
		fi
		after detach detach || problems+=("$(failed detach)")
		# 4. Nothing stale.
		local left
		left=$(find "$bpffs/steer" -mindepth 1 2>/dev/null | sed "s|^$bpffs/steer/||" | tr '\n' ' ')
		[[ -z $left ]] || problems+=("left after detach: $left")
		no_links || problems+=("$(links) sk_lookup link(s) still attached after detach")

		if [[ ${#problems[@]} -eq 0 ]]; then
			ok "$at: ${running:-?}"
		else
			local msg
			msg=$(printf '%s\n' "${problems[@]}" | awk '!seen[$0]++ { printf "%s%s", sep, $0; sep = "; " }')
			fail "$at: traffic ${running:-?}; $msg"
		fi
	done
	[[ $kills -eq $n ]] && ok "$what: killed at all $n calls ($((SECONDS - t0)) s)" ||
		fail "$what: killed at $kills of $n calls ($((SECONDS - t0)) s)"
}

none_traffic="plain70 plain71"
for strategy in tree table; do
	scenario "first apply" "$strategy" none none A "$none_traffic" "refused plain71" apply "${built[A.$strategy]}"
	scenario "re-apply" "$strategy" A A B "one plain71" "refused one" apply "${built[B.$strategy]}"
	scenario detach "$strategy" A A none "one plain71" "$none_traffic" detach
done
rm -rf "$bpffs/steer"

# What the command after a kill says on stderr (one line, once recovery exists).
# Printed, not judged: the wording is not settled yet.
echo "# after a kill in the middle of the switch, the same command again says:"
# said NAME PRE PATTERN STEER-ARGS...: kills at the call after the one matching
# PATTERN (tree's sequence), then runs the same command again.
said() {
	local name=$1 pre=$2 pattern=$3 k
	shift 3
	argv=("$steer" "$1" --bpffs "$bpffs" "${@:2}")
	mapfile -t seq < <(calls_in "$tmp/count.tree.$name")
	k=$(printf '%s\n' "${seq[@]}" | grep -n -m1 -E "$pattern" | cut -d: -f1)
	if [[ -z $k || $k -ge ${#seq[@]} ]]; then
		echo "#   $name: no call after one matching '$pattern' in its sequence"
		return
	fi
	k=$((k + 1))
	problems=()
	reset "$pre" tree >/dev/null && kill_at "$k"
	st "$@" >/dev/null 2>"$tmp/said.err"
	local rc=$?
	echo "#   $name killed at k=$k ($(label "${seq[k - 1]}")), again: exit $rc, $(wc -l <"$tmp/said.err") stderr line(s):"
	sed "s/^/#     /" "$tmp/said.err"
	rm -rf "$bpffs/steer"
}
said "first apply" none 'BPF_OBJ_PIN.*/sockets"' apply "${built[A.tree]}"
said "re-apply" A 'BPF_LINK_UPDATE' apply "${built[B.tree]}"
said detach A 'BPF_LINK_DETACH' detach

echo "# total $((SECONDS - started)) s"
finish

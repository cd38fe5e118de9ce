# Shared by the kernel scenario tests (SPEC §5). Sourced by each script as
#
#   source "$(dirname "$0")/lib.sh" "$@"     # args: path/to/steer path/to/namesrv
#
# It re-executes the script inside `unshare --net --mount` (a network namespace
# of its own: never the machine's), mounts a private BPF filesystem, brings lo
# up and makes the IPv6 test prefixes local. Not root: skip (77), except under
# CI=true, where a kernel test that cannot run fails.
set -uo pipefail

if [[ $# -lt 2 ]]; then
	echo "usage: $0 path/to/steer path/to/namesrv" >&2
	exit 2
fi
steer=$(realpath "$1")
namesrv=$(realpath "$2")
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$PWD

_cannot_run() {
	if [[ ${CI:-} == true ]]; then
		echo "FAIL: $* (CI=true: kernel tests must run)" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

if [[ ${STEER_KTEST_INSIDE:-} != 1 ]]; then
	[[ $(id -u) -eq 0 ]] || _cannot_run "needs root (namespaces, BPF)"
	STEER_KTEST_INSIDE=1 exec unshare --net --mount --propagation private bash "$0" "$steer" "$namesrv" ||
		_cannot_run "unshare --net --mount failed"
fi

tmp=$(mktemp -d)
bpffs=$tmp/bpffs
mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs" || _cannot_run "cannot mount a BPF filesystem"
# The default state directory too, so a command without --bpffs can never reach the host's.
mount -t bpf bpf /sys/fs/bpf || _cannot_run "cannot mount a BPF filesystem on /sys/fs/bpf"
ip link set lo up
ip -6 addr add fd00::1/128 dev lo
for p in fd00:41::/48 fd00:53::/64 fd00:60::/48; do ip -6 route add local "$p" dev lo; done
export NO_COLOR=1 LC_ALL=C

pids=()
passed=0
failed=0
_cleanup() {
	kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	umount "$bpffs" 2>/dev/null
	rm -rf "$tmp"
}
trap _cleanup EXIT

ok() {
	echo "ok   $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}

# steer CMD ARGS...: steer with this test's private state directory.
st() {
	local cmd=$1
	shift
	case $cmd in
	apply | register | unregister | status | detach) "$steer" "$cmd" --bpffs "$bpffs" "$@" ;;
	*) "$steer" "$cmd" "$@" ;;
	esac
}

# serve PROTO ADDR:PORT NAME [namesrv options]: starts a server, waits until it listens; its pid is $last_pid.
serve() {
	local out=$tmp/serve.$RANDOM
	: >"$out"
	"$namesrv" serve "$@" >"$out" 2>&1 &
	last_pid=$!
	pids+=("$last_pid")
	for _ in $(seq 100); do
		grep -q ready "$out" && return 0
		sleep 0.02
	done
	echo "server $* did not start:" >&2
	cat "$out" >&2
	return 1
}

# expect_conn WANT PROTO ADDR:PORT [connect options]: the reply starts with WANT ("refused", "timeout" or a name).
expect_conn() {
	local want=$1 proto=$2 dst=$3 got
	shift 3
	got=$("$namesrv" connect "$proto" "$dst" "$@" --timeout 1000 2>&1)
	case "$got" in
	"$want"*) ok "$proto $dst ${*:-}-> $got" ;;
	*) fail "$proto $dst ${*:-}-> '$got', want '$want'" ;;
	esac
}

# expect_status N DESCRIPTION CMD...: CMD exits with N.
expect_status() {
	local want=$1 what=$2 status
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [[ $status -eq $want ]]; then
		ok "$what (exit $status)"
	else
		fail "$what: exit $status, want $want; stderr:"
		cat "$tmp/err"
	fi
}

# links: how many sk_lookup links are attached to THIS test's network namespace
# (bpftool lists every namespace's, and other tests or tubular may have some).
links() {
	bpftool link show --json 2>/dev/null |
		jq --argjson ino "$(stat -L -c %i /proc/self/ns/net)" \
			'[.[] | select(.netns_ino == $ino and .attach_type == "sk_lookup")] | length'
}
# no_links: none left, allowing the kernel a moment: a released link is freed from a work queue.
no_links() {
	for _ in $(seq 40); do
		[[ $(links) == 0 ]] && return 0
		sleep 0.05
	done
	return 1
}

# policy NAME: writes stdin to $tmp/NAME.steer and prints the path.
policy() {
	cat >"$tmp/$1.steer"
	echo "$tmp/$1.steer"
}

finish() {
	echo "$passed passed, $failed failed"
	[[ $failed -eq 0 ]]
}

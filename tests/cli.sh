#!/usr/bin/env bash
# The command line contract (SPEC §3): help and usage, exit statuses (0 success,
# 1 invalid input, 2 the system refused), the exact `eval` output, `--json`,
# one error line on stderr for bad arguments, `check -`, `compile -o`, `test`.
# Only the commands that need neither root nor a kernel.
#
# Usage: bash tests/cli.sh path/to/steer
set -uo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 path/to/steer" >&2
	exit 2
fi
steer=$1
[[ $steer == /* ]] || steer=$PWD/$steer
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1 LC_ALL=C
TAB=$'\t'

# Fixtures, used from inside $fix so that eval names them "cli.steer" and so on.
fix=$tmp/fix
mkdir -p "$fix"
cat >"$fix/cli.steer" <<'EOF'
service web = tcp 127.0.0.1:8001
service web6 = tcp [::1]:8006
service mgmt
match tcp dst 10.0.0.0/8 port 80 -> service web
match tcp dst fd00:40::/48 port 80 -> service web6
match tcp port 22 iif lo -> service mgmt
match tcp port 22 -> drop
expect tcp 192.0.2.1:40000 -> 10.0.0.1:80 : service web
expect tcp [fd00::1]:40000 -> [fd00:40::1]:80 : service web6
EOF
cat >"$fix/failing.steer" <<'EOF'
service web
match tcp dst 10.0.0.0/8 port 80 -> service web
expect tcp 192.0.2.1:40000 -> 10.0.0.1:80 : service web
expect tcp 192.0.2.1:40000 -> 10.0.0.1:81 : service web
EOF
cat >"$fix/warns.steer" <<'EOF'
service web
service unused
match tcp dst 10.0.0.0/8 port 80 -> service web
EOF
cat >"$fix/broken.steer" <<'EOF'
service web
match tcp dst 10.0.0.0/33 port 80 -> service web
EOF

passed=0
failed=0
name=
reasons=()
rc=0

# _run NAME [--in FILE] [--cd DIR] CMD...: runs one command, stdout and stderr
# to files, stdin from FILE (default /dev/null), from DIR (default the root).
_run() {
	local in=/dev/null dir=$root
	name=$1
	shift
	reasons=()
	while [[ $1 == --in || $1 == --cd ]]; do
		[[ $1 == --in ]] && in=$2 || dir=$2
		shift 2
	done
	(cd "$dir" && "$@") <"$in" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

_why() { reasons+=("$*"); }

_status() { [[ $rc -eq $1 ]] || _why "exit status $rc, expected $1"; }
_out_empty() { [[ ! -s $tmp/out ]] || _why "stdout not empty"; }
_err_empty() { [[ ! -s $tmp/err ]] || _why "stderr not empty"; }
# Exactly these lines on stdout.
_out_is() {
	printf '%s\n' "$@" >"$tmp/want"
	diff -u --label expected --label stdout "$tmp/want" "$tmp/out" >"$tmp/diff" ||
		_why "stdout differs:"$'\n'"$(cat "$tmp/diff")"
}
_out_has() { grep -qE -- "$1" "$tmp/out" || _why "stdout lacks /$1/"; }
_err_has() { grep -qE -- "$1" "$tmp/err" || _why "stderr lacks /$1/"; }
# One clear line on stderr (SPEC §3), matching a pattern.
_err_one_line() {
	local n
	n=$(wc -l <"$tmp/err")
	[[ $n -eq 1 ]] || _why "$n lines on stderr, expected one"
	_err_has "$1"
}
# A jq test on stdout, which must be one JSON document.
_json() {
	[[ $(wc -l <"$tmp/out") -eq 1 ]] || _why "stdout is not one line"
	jq -e "$1" "$tmp/out" >/dev/null 2>&1 || _why "jq -e '$1' is not true"
}

_done() {
	if [[ ${#reasons[@]} -eq 0 ]]; then
		echo "ok   $name"
		passed=$((passed + 1))
		return
	fi
	echo "FAIL $name"
	printf '    %s\n' "${reasons[@]}"
	sed 's/^/    stdout: /' "$tmp/out"
	sed 's/^/    stderr: /' "$tmp/err"
	failed=$((failed + 1))
}

# --- help and usage ---------------------------------------------------------

for h in --help -h; do
	_run "steer $h" "$steer" "$h"
	_status 0
	_out_has '^usage: steer '
	for cmd in check compile eval test; do
		_out_has "^  $cmd "
	done
	_err_empty
	_done
done

for cmd in check compile eval test monitor metrics; do
	_run "steer $cmd --help" "$steer" "$cmd" --help
	_status 0
	_out_has "^usage: steer $cmd "
	_err_empty
	_done
done

_run "no command: usage on stderr, exit 1" "$steer"
_status 1
_out_empty
_err_has '^usage: steer '
_done

_run "unknown command" "$steer" frobnicate
_status 1
_out_empty
_err_has "^steer: error: unknown command 'frobnicate'"
_done

_run "unknown option" "$steer" --frobnicate check examples/seed.steer
_status 1
_out_empty
_err_has "'--frobnicate'"
_done

for cmd in check compile eval test; do
	_run "steer $cmd: unknown option" "$steer" "$cmd" --frobnicate examples/two-prefixes.steer \
		tcp 127.0.0.1:40000 127.40.0.1:80
	_status 1
	_out_empty
	_err_has "'--frobnicate'"
	_done
done

_run "check without a policy" "$steer" check
_status 1
_out_empty
_err_has '^usage: steer check '
_done

_run "eval with too few arguments" "$steer" eval examples/two-prefixes.steer tcp 127.0.0.1:40000
_status 1
_out_empty
_err_has '^usage: steer eval '
_done

# --- eval ------------------------------------------------------------------

_run "eval: service, FILE:LINE of the rule" \
	"$steer" eval examples/two-prefixes.steer tcp 127.0.0.1:40000 127.40.0.1:80
_status 0
_out_is "service web_a${TAB}examples/two-prefixes.steer:11"
_err_empty
_done

_run "eval: no rule matched is pass and -" \
	"$steer" eval examples/two-prefixes.steer tcp 127.0.0.1:40000 127.42.0.1:80
_status 0
_out_is "pass${TAB}-"
_err_empty
_done

_run "eval: drop" --cd "$fix" "$steer" eval cli.steer tcp 192.0.2.1:40000 10.0.0.1:22
_status 0
_out_is "drop${TAB}cli.steer:7"
_done

_run "eval: IPv6 endpoints [addr]:port" --cd "$fix" \
	"$steer" eval cli.steer tcp '[fd00::1]:40000' '[fd00:40:0:ffff::9]:80'
_status 0
_out_is "service web6${TAB}cli.steer:5"
_err_empty
_done

_run "eval: IPv6 outside the prefix" --cd "$fix" \
	"$steer" eval cli.steer tcp '[fd00::1]:40000' '[fd00:41::1]:80'
_status 0
_out_is "pass${TAB}-"
_done

_run "eval: udp does not match a tcp rule" --cd "$fix" "$steer" eval cli.steer udp 192.0.2.1:40000 10.0.0.1:80
_status 0
_out_is "pass${TAB}-"
_done

_run "eval: --iif selects the iif rule" --cd "$fix" \
	"$steer" eval cli.steer tcp 192.0.2.1:40000 10.0.0.1:22 --iif lo
_status 0
_out_is "service mgmt${TAB}cli.steer:6"
_done

_run "eval: --iif before the policy" --cd "$fix" \
	"$steer" eval --iif lo cli.steer tcp 192.0.2.1:40000 10.0.0.1:22
_status 0
_out_is "service mgmt${TAB}cli.steer:6"
_done

_run "eval: another --iif skips the iif rule" --cd "$fix" \
	"$steer" eval cli.steer tcp 192.0.2.1:40000 10.0.0.1:22 --iif eth0
_status 0
_out_is "drop${TAB}cli.steer:7"
_done

_run "eval --json: service" --cd "$fix" "$steer" eval --json cli.steer tcp 192.0.2.1:40000 10.0.0.1:80
_status 0
_json '.verdict == "service" and .service == "web" and .rule.file == "cli.steer" and .rule.line == 4'
_err_empty
_done

_run "eval --json: pass has null service and rule" --cd "$fix" \
	"$steer" eval cli.steer tcp 192.0.2.1:40000 10.0.0.1:443 --json
_status 0
_json '.verdict == "pass" and has("service") and .service == null and has("rule") and .rule == null'
_done

_run "eval --json: drop" --cd "$fix" "$steer" eval --json cli.steer tcp 192.0.2.1:40000 10.0.0.1:22
_status 0
_json '.verdict == "drop" and .service == null and .rule.file == "cli.steer" and .rule.line == 7'
_done

_run "eval --json: IPv6 with --iif" --cd "$fix" \
	"$steer" eval --json --iif lo cli.steer tcp '[fd00::1]:40000' '[fd00::2]:22'
_status 0
_json '.verdict == "service" and .service == "mgmt" and .rule.line == 6'
_done

# Bad arguments: exit 1, nothing on stdout, one error line naming the culprit.
_bad_eval() {
	local what=$1 pattern=$2
	shift 2
	_run "eval: $what" --cd "$fix" "$steer" eval cli.steer "$@"
	_status 1
	_out_empty
	_err_one_line "$pattern"
	_done
}
_bad_eval "bad protocol" "sctp" sctp 192.0.2.1:40000 10.0.0.1:80
_bad_eval "source without a port" "192\.0\.2\.1" tcp 192.0.2.1 10.0.0.1:80
_bad_eval "destination port > 65535" "10\.0\.0\.1:65536" tcp 192.0.2.1:40000 10.0.0.1:65536
_bad_eval "not an address" "10\.0\.0\.300:80" tcp 192.0.2.1:40000 10.0.0.300:80
_bad_eval "IPv6 without brackets" "fd00::2:80" tcp '[fd00::1]:40000' fd00::2:80
_bad_eval "mixed families" "famil" tcp 192.0.2.1:40000 '[fd00::2]:80'

_run "eval: policy with errors" --cd "$fix" "$steer" eval broken.steer tcp 192.0.2.1:40000 10.0.0.1:80
_status 1
_out_empty
_err_has '^broken\.steer:2:15: error: '
_done

# --- missing or unreadable policies ----------------------------------------

for cmd in check compile eval test; do
	args=()
	[[ $cmd == eval ]] && args=(tcp 192.0.2.1:40000 10.0.0.1:80)
	[[ $cmd == compile ]] && args=(--emit ir)
	_run "$cmd: missing policy file" --cd "$fix" "$steer" "$cmd" no-such.steer "${args[@]}"
	_status 1
	_out_empty
	_err_one_line "no-such\.steer"
	_done
done

_run "check: a directory is not a policy" "$steer" check examples
_status 1
_out_empty
_err_one_line "'examples'"
_done

# --- check -------------------------------------------------------------------

_run "check: a valid policy prints nothing" --cd "$fix" "$steer" check cli.steer
_status 0
_out_empty
_err_empty
_done

_run "check: examples/seed.steer prints nothing" "$steer" check examples/seed.steer
_status 0
_out_empty
_err_empty
_done

_run "check -: the policy from stdin" --in "$fix/cli.steer" "$steer" check -
_status 0
_out_empty
_err_empty
_done

_run "check -: errors name <stdin>" --in "$fix/broken.steer" "$steer" check -
_status 1
_out_empty
_err_has "^<stdin>:2:15: error: invalid prefix '10\.0\.0\.0/33'"
_done

_run "check -: a failing expect from stdin" --in "$fix/failing.steer" "$steer" check -
_status 1
_err_has '^<stdin>:4:1: error: expect failed'
_done

_run "check: a failing expect" --cd "$fix" "$steer" check failing.steer
_status 1
_out_empty
_err_has '^failing\.steer:4:1: error: expect failed'
_done

_run "check: warnings alone exit 0" --cd "$fix" "$steer" check warns.steer
_status 0
_out_empty
_err_has "^warns\.steer:2:9: warning: service 'unused'"
_done

_run "check --werror: warnings fail" --cd "$fix" "$steer" check --werror warns.steer
_status 1
_err_has "^warns\.steer:2:9: error: service 'unused'"
_done

# --- compile -----------------------------------------------------------------

_run "compile --emit ir to stdout" --cd "$fix" "$steer" compile cli.steer --emit ir
_status 0
_out_has '^rule 0 cli\.steer:4$'
_err_empty
_done
cp "$tmp/out" "$tmp/ir.stdout"

_run "compile -o FILE --emit ir writes FILE" --cd "$fix" "$steer" compile cli.steer -o "$tmp/out.ir" --emit ir
_status 0
_out_empty
_err_empty
if [[ ! -f $tmp/out.ir ]]; then
	_why "$tmp/out.ir was not written"
elif ! cmp -s "$tmp/out.ir" "$tmp/ir.stdout"; then
	_why "the file differs from --emit ir on stdout"
fi
_done

_run "compile -o into a missing directory: the system refused" --cd "$fix" \
	"$steer" compile cli.steer --emit ir -o "$tmp/no/such/dir/out.ir"
_status 2
_out_empty
_err_one_line "no/such/dir/out\.ir"
_done

_run "compile: unknown --emit" --cd "$fix" "$steer" compile cli.steer --emit bogus
_status 1
_out_empty
_err_one_line "'bogus'"
_done

_run "compile --emit ir: a policy with errors writes nothing" --cd "$fix" \
	"$steer" compile broken.steer --emit ir -o "$tmp/broken.ir"
_status 1
_out_empty
_err_has '^broken\.steer:2:15: error: '
[[ ! -s $tmp/broken.ir ]] || _why "$tmp/broken.ir has content"
_done

# --- test --------------------------------------------------------------------

_run "test: passing expects" --cd "$fix" "$steer" test cli.steer
_status 0
_out_has '^ok +cli\.steer:8: '
_out_has '^ok +cli\.steer:9: '
[[ $(tail -n 1 "$tmp/out") == "2 passed, 0 failed" ]] || _why "last line is not '2 passed, 0 failed'"
_err_empty
_done

_run "test: a failing expect exits 1" --cd "$fix" "$steer" test failing.steer
_status 1
_out_has '^ok +failing\.steer:3: '
_out_has '^FAIL failing\.steer:4: '
[[ $(tail -n 1 "$tmp/out") == "1 passed, 1 failed" ]] || _why "last line is not '1 passed, 1 failed'"
_err_has '^failing\.steer:4:1: error: expect failed: got pass'
_done

# --- built policies ----------------------------------------------------------
# `compile` writes one self-contained file that `apply` takes without clang; a
# damaged, truncated or foreign one is refused before anything is touched.

_run "compile writes POLICY.built by default" --cd "$fix" "$steer" compile cli.steer
_status 0
_err_empty
[[ $(head -c 8 "$fix/cli.built" 2>/dev/null) == STEERBP ]] || _why "cli.built does not start with the magic"
_done

_run "compile --emit obj -o writes an ELF object" --cd "$fix" "$steer" compile cli.steer --emit obj -o "$tmp/cli.o"
_status 0
[[ $(head -c 4 "$tmp/cli.o" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || _why "cli.o is not ELF"
_done

built_size=$(stat -c %s "$fix/cli.built")
head -c $((built_size - 7)) "$fix/cli.built" >"$tmp/truncated.built"
cp "$fix/cli.built" "$tmp/flipped.built"
printf '\xff' | dd of="$tmp/flipped.built" bs=1 seek=$((built_size / 2)) conv=notrunc status=none
cp "$fix/cli.built" "$tmp/future.built"
printf '\x63' | dd of="$tmp/future.built" bs=1 seek=8 conv=notrunc status=none
{ printf 'STEERBP\n\x02\x00\x00\x00'; head -c 200 /dev/urandom; } >"$tmp/foreign.built"
head -c 20 "$fix/cli.built" >"$tmp/header.built"
for bad in truncated:'damaged or truncated' flipped:'damaged or truncated' future:'format 99; this steer' \
	foreign:'damaged or truncated' header:'truncated: its header'; do
	_run "apply refuses a ${bad%%:*} built policy (exit 1, nothing touched)" \
		"$steer" apply "$tmp/${bad%%:*}.built" --netns /nonexistent
	_status 1
	_out_empty
	_err_one_line "${bad#*:}"
	_done
done

_run "apply: --strategy does not apply to a built policy" "$steer" apply "$fix/cli.built" --strategy tree
_status 1
_err_one_line "applies as it was built"
_done

# --- the target --------------------------------------------------------------
# A --netns or --bpffs that names no namespace or BPF filesystem: the same error
# and exit 2 on every command that touches one (a monitoring check must not
# read "healthy").

for cmd in status detach "register web --auto" "unregister web" "apply $fix/cli.built"; do
	for target in "--netns /nonexistent:cannot open network namespace" "--netns /etc/hostname:is not a network namespace" \
		"--bpffs $tmp:is not a BPF filesystem"; do
		read -ra words <<<"$cmd ${target%%:*}"
		_run "${cmd%% *} ${target%%:*}: exit 2" "$steer" "${words[@]}"
		_status 2
		_out_empty
		_err_one_line "^steer: error: .*${target#*:}"
		_done
	done
done

_run "--wait takes seconds" "$steer" status --wait soon
_status 1
_err_one_line "invalid --wait 'soon'"
_done

# --- bounded output ------------------------------------------------------------
# However large the input, a diagnostic shows a window of its line, and only the
# first warnings are printed (the error limit holds under --werror too).

{
	echo "service web"
	for _ in $(seq 60); do echo "match tcp dst 10.0.0.0/8 port 80 -> service web"; done
} >"$fix/shadowed.steer"
_run "check: the first 20 warnings, then a count" --cd "$fix" "$steer" check shadowed.steer
_status 0
[[ $(grep -c ': warning: ' "$tmp/err") -eq 20 ]] || _why "$(grep -c ': warning: ' "$tmp/err") warnings printed, want 20"
_err_has '^steer: note: … and 39 more warnings; --verbose shows all$'
_done

_run "check --werror: the error limit holds" --cd "$fix" "$steer" check --werror shadowed.steer
_status 1
[[ $(grep -cE '^shadowed\.steer:[0-9]+:[0-9]+: error: ' "$tmp/err") -eq 20 ]] || _why "$(grep -cE '^shadowed\.steer:[0-9]+:[0-9]+: error: ' "$tmp/err") errors printed, want 20"
_err_has '^steer: error: too many errors, stopping after 20$'
_done

_run "check --verbose: every warning" --cd "$fix" "$steer" --verbose check shadowed.steer
_status 0
[[ $(grep -c ': warning: ' "$tmp/err") -eq 59 ]] || _why "$(grep -c ': warning: ' "$tmp/err") warnings printed, want 59"
_done

python3 -c '
import sys
sys.stdout.write("service web\nmatch tcp dst { " + ", ".join("10.%d.%d.%d/32" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(600000)) + ", 10.0.0.400/24 } port 80 -> service web\n")
' >"$fix/longline.steer"
_run "a 10 MB line: the diagnostic shows a window of it" --cd "$fix" "$steer" check longline.steer
_status 1
_err_has "^longline\.steer:2:[0-9]+: error: invalid prefix '10\.0\.0\.400/24'"
_err_has '^    …[0-9./, ]+, 10\.0\.0\.400/24 \} port 80 -> service web$'
[[ $(wc -c <"$tmp/err") -lt 1000 ]] || _why "$(wc -c <"$tmp/err") bytes on stderr"
[[ $(awk '{ if (length($0) > n) n = length($0) } END { print n }' "$tmp/err") -le 210 ]] || _why "a line of stderr is longer than 210 columns"
_done

# --- bounded input ---------------------------------------------------------------
# A policy is a regular file of at most 256 MiB, in UTF-8: anything else is one
# clear error at once, located when it is an include or a byte of the text.

for dev in /dev/zero "$fix/fifo"; do
	[[ $dev == /dev/zero ]] || mkfifo "$dev"
	_run "check $(basename "$dev"): not a regular file, at once" timeout 5 "$steer" check "$dev"
	_status 1
	_err_one_line "cannot read '.*': not a regular file"
	_done
done
printf 'include "/dev/zero"\n' >"$fix/inczero.steer"
_run "include /dev/zero: located at the include" --cd "$fix" timeout 5 "$steer" check inczero.steer
_status 1
_err_has "^inczero\.steer:1:9: error: cannot include '/dev/zero': not a regular file"
_done
truncate -s 257M "$fix/huge.steer"
_run "check a file over 256 MiB" timeout 5 "$steer" check "$fix/huge.steer"
_status 1
_err_one_line "larger than 256 MiB"
_done
rm -f "$fix/huge.steer"
printf 'service web\nmatch tcp dst 10.0.0.0/8 port 80 -> service w\000eb\n' >"$fix/nul.steer"
_run "a NUL byte: located, with a caret" --cd "$fix" "$steer" check nul.steer
_status 1
_err_has '^nul\.steer:2:46: error: a NUL byte: a policy is text$'
_err_has '^ {49}\^$'
_done
printf 'service web\n# caf\xc3\xa9 is fine\nmatch tcp dst 10.0.0.0/8 port 80 -> service w\xffeb\n' >"$fix/latin1.steer"
_run "a byte that is not UTF-8: located, shown as '?'" --cd "$fix" "$steer" check latin1.steer
_status 1
_err_has '^latin1\.steer:3:46: error: byte 0xff is not valid UTF-8'
_err_has '^    match tcp dst 10\.0\.0\.0/8 port 80 -> service w\?eb$'
_done

# --- one table of exit statuses ---------------------------------------------------
# Every command that reads a policy, through every class of bad input: 1, with
# one error line (and the usage for a bad option or operand).

mkdir -p "$fix/dir.steer"
ln -sf loop-b.steer "$fix/loop-a.steer"
ln -sf loop-a.steer "$fix/loop-b.steer"
for cmd in check compile eval test apply; do
	extra=()
	[[ $cmd == eval ]] && extra=(tcp 192.0.2.1:1 10.0.0.1:80)
	for bad in "missing:no-such.steer:No such file" "dir:dir.steer:Is a directory" "loop:loop-a.steer:symbolic links" \
		"fifo:fifo:not a regular file"; do
		IFS=: read -r what file msg <<<"$bad"
		_run "$cmd: a $what policy path is invalid input" --cd "$fix" "$steer" "$cmd" "$file" "${extra[@]}"
		_status 1
		_out_empty
		_err_one_line "$msg"
		_done
	done
	_run "$cmd: an unknown option" --cd "$fix" "$steer" "$cmd" --bogus cli.steer "${extra[@]}"
	_status 1
	_err_has "unrecognized option '--bogus'"
	_done
	_run "$cmd: a stray argument names itself" --cd "$fix" "$steer" "$cmd" cli.steer "${extra[@]}" stray
	_status 1
	_err_has "^steer: error: unexpected argument 'stray'$"
	_done
	if [[ $(id -u) -eq 0 ]]; then
		cp "$fix/cli.steer" "$fix/private.steer"
		chmod 600 "$fix/private.steer"
		_run "$cmd: an unreadable policy is the system's refusal" \
			setpriv --reuid=65534 --regid=65534 --clear-groups "$steer" "$cmd" "$fix/private.steer" "${extra[@]}"
		_status 2
		_err_one_line "Permission denied"
		_done
	fi
done

_run "steer --version" "$steer" --version
_status 0
_out_is "steer $(sed -nE 's/^project\(steer VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)"
_done
_run "steer version" "$steer" version
_status 0
_out_has '^steer [0-9]+\.[0-9]+\.[0-9]+$'
_done

# --- JSON: one schema, versioned -----------------------------------------------------
# A rule is the same object in every document, numbered from 1 as the policy
# lists them; check and test print their results as one document too.

_run "eval --json: the rule object" --cd "$fix" "$steer" eval --json cli.steer tcp 192.0.2.1:40000 10.0.0.1:80
_status 0
_json '.version == 1 and .rule == { "number": 1, "file": "cli.steer", "line": 4, "column": 1, "action": "service web" }'
_done

_run "check --json: diagnostics and expects" --cd "$fix" "$steer" check --json warns.steer
_status 0
_json '.version == 1 and .ok == true and .warnings == 1 and .errors == 0 and .expects.passed == 0 and
	(.diagnostics[0] | .severity == "warning" and .file == "warns.steer" and .line == 2 and .column == 9 and
	 (.message | startswith("service '"'"'unused'"'"'")))'
_err_empty
_done

_run "check --json --werror: the warning is an error" --cd "$fix" "$steer" check --json --werror warns.steer
_status 1
_json '.ok == false and .diagnostics[0].severity == "error"'
_done

_run "check --json: errors, each with its notes" --cd "$fix" "$steer" check --json broken.steer
_status 1
_json '.ok == false and .errors == 1 and .diagnostics[0].line == 2 and .diagnostics[0].column == 15'
_done

_run "check --json: every warning, not the first 20" --cd "$fix" "$steer" check --json shadowed.steer
_status 0
_json '(.diagnostics | length) == 59 and .warnings == 59'
_done

_run "test --json: each expect, wanted and got" --cd "$fix" "$steer" test --json failing.steer
_status 1
_json '.version == 1 and .passed == 1 and .failed == 1 and (.results | length) == 2 and
	(.results[1] | .ok == false and .line == 4 and .want.verdict == "service" and .got.verdict == "pass" and .got.rule == null) and
	(.results[0].got.rule.number == 1) and (.diagnostics[0].message | startswith("expect failed"))'
_done

# --- forward: checked, evaluated, tested, and compiled to steer proxy's sockets ---------

cat >"$fix/fwd.steer" <<'P'
match tcp dst 10.70.0.0/24 port 80 -> forward 127.0.0.1:9001
match tcp dst 10.71.0.0/24 port 443 -> forward sni { "a.example": [::1]:9443, "*.b.example": 127.0.0.1:9444 }
expect tcp 192.0.2.1:40000 -> 10.70.0.9:80 : forward 127.0.0.1:9001
expect tcp 192.0.2.1:40000 -> 10.71.0.9:443 : forward sni
P
_run "eval: a forward verdict" --cd "$fix" "$steer" eval fwd.steer tcp 192.0.2.1:40000 10.70.0.9:80
_status 0
_out_is "forward 127.0.0.1:9001${TAB}fwd.steer:1"
_done
_run "eval --json: forward by server name" --cd "$fix" "$steer" eval --json fwd.steer tcp 192.0.2.1:40000 10.71.0.9:443
_status 0
_json '.verdict == "forward" and .forward == "sni" and .rule.action == "forward sni" and .rule.number == 2'
_done
_run "test: expects of forward verdicts" --cd "$fix" "$steer" test fwd.steer
_status 0
_out_has '^ok +fwd\.steer:4: tcp 192\.0\.2\.1:40000 -> 10\.71\.0\.9:443 : forward sni$'
_done
printf 'match tcp dst 10.70.0.0/24 port 80 -> forward 127.0.0.1:9001\nexpect tcp 192.0.2.1:1 -> 10.70.0.9:80 : forward 127.0.0.1:9002\n' >"$fix/fwdbad.steer"
_run "test: a forward expect to another upstream fails" --cd "$fix" "$steer" test fwdbad.steer
_status 1
_err_has 'expect failed: got forward 127\.0\.0\.1:9001 \(rule at fwdbad\.steer:1\), expected forward 127\.0\.0\.1:9002'
_done
_run "compile --emit c: a forward's leaf is steer proxy's socket" --cd "$fix" "$steer" compile fwd.steer --emit c
_status 0
_out_has '^#define STEER_NSERVICES 2$'
_out_has 'return steer_service\(ctx, 0, 0, SK_DROP\); /\* steer proxy \*/'
_out_has 'return steer_service\(ctx, 1, 1, SK_DROP\); /\* steer proxy \*/'
_done
printf 'match tcp dst 10.70.0.0/24 port 80 -> forward 127.0.0.1:9001\nmatch tcp dst 10.72.0.0/24 port 80 -> forward 127.0.0.1:9001\n' >"$fix/fwdsame.steer"
_run "compile --emit c: identical forwards share one socket" --cd "$fix" "$steer" compile fwdsame.steer --emit c
_status 0
_out_has '^#define STEER_NSERVICES 1$'
[[ $(grep -c "steer_service(ctx, [01], 0, SK_DROP); /\* steer proxy" "$tmp/out") -eq 2 ]] || _why "both rules should use forward 0"
_done

# --- monitor and metrics: wrong options are refused before anything is opened ------

for bad in "--verdict bogus" "--verdict drop,nope" "--proto icmp" "--src 10.0.0.1/33" "--dst 10.0.0.1/8" \
	"--rate 0" "--count -3" "--buffer 1000" "--buffer 12K" "--interval 0"; do
	# shellcheck disable=SC2086 # the option and its value are two words
	_run "monitor $bad: exit 1, one line naming it" "$steer" monitor $bad
	_status 1
	_out_empty
	_err_one_line "^steer: error: ${bad%% *} takes "
	_done
done
_run "metrics --listen without a port" "$steer" metrics --listen 127.0.0.1
_status 1
_err_has "^steer: error: --listen takes ADDRESS:PORT"
_done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

#!/usr/bin/env bash
# Semantics: policies whose expects pin down what the language means (SPEC §2),
# checked with the reference evaluator through `steer test`.
#
#   tests/semantics/*.steer       every expect must pass: exit 0, a last line
#                                 "N passed, 0 failed" with N at least the number
#                                 of expects written in the file, nothing on stderr.
#   tests/semantics/fail/*.steer  deliberately wrong expects, each marked with a
#                                 "# FAIL" comment: `steer test` must exit 1 and
#                                 report exactly the marked expects as failing, on
#                                 stdout and as "expect failed" errors on stderr.
#                                 This shows the runner notices failures.
#   tests/semantics/inc/          files included by the policies above.
#
# Usage: bash tests/semantics/run.sh path/to/steer   (from the repository root)
set -uo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 path/to/steer" >&2
	exit 2
fi
steer=$1
dir=$(dirname "${BASH_SOURCE[0]}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1 LC_ALL=C

passed=0
failed=0

_ok() {
	echo "ok   $1"
	passed=$((passed + 1))
}

# _fail NAME WHY: reports, then shows what steer printed.
_fail() {
	echo "FAIL $1: $2"
	sed 's/^/    stdout: /' "$tmp/stdout"
	sed 's/^/    stderr: /' "$tmp/stderr"
	failed=$((failed + 1))
}

_pass_case() {
	local f=$1 name status last n m written
	name=${f#"$dir"/}
	"$steer" test "$f" >"$tmp/stdout" 2>"$tmp/stderr"
	status=$?
	last=$(tail -n 1 "$tmp/stdout")
	written=$(grep -cE '^[[:space:]]*expect[[:space:]]' "$f")
	if [[ $status -ne 0 ]]; then
		_fail "$name" "steer test exited $status"
	elif [[ ! $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		_fail "$name" "no 'N passed, M failed' line"
	elif n=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]}; [[ $m -ne 0 || $n -eq 0 ]]; then
		_fail "$name" "$last"
	elif [[ $n -lt $written ]]; then
		_fail "$name" "$n expects ran, the file has $written"
	elif [[ -s $tmp/stderr ]]; then
		_fail "$name" "unexpected output on stderr"
	else
		_ok "$name ($last)"
	fi
}

_fail_case() {
	local f=$1 name status last want got diag
	name=${f#"$dir"/}
	"$steer" test "$f" >"$tmp/stdout" 2>"$tmp/stderr"
	status=$?
	last=$(tail -n 1 "$tmp/stdout")
	# The lines marked "# FAIL", and the lines steer reported as failing.
	want=$(grep -nE '^[[:space:]]*expect[[:space:]].*#[[:space:]]*FAIL' "$f" | cut -d: -f1 | paste -sd' ')
	got=$(sed -nE 's/^FAIL [^ ]*:([0-9]+): .*/\1/p' "$tmp/stdout" | paste -sd' ')
	diag=$(sed -nE 's/^[^ ]*:([0-9]+):[0-9]+: error: expect failed: .*/\1/p' "$tmp/stderr" | paste -sd' ')
	if [[ -z $want ]]; then
		_fail "$name" "no expect is marked '# FAIL'"
	elif [[ $status -ne 1 ]]; then
		_fail "$name" "steer test exited $status, expected 1"
	elif [[ ! $last =~ ^[0-9]+\ passed,\ ([0-9]+)\ failed$ ]] || [[ ${BASH_REMATCH[1]} -ne $(wc -w <<<"$want") ]]; then
		_fail "$name" "expected $(wc -w <<<"$want") failed, got '$last'"
	elif [[ $got != "$want" ]]; then
		_fail "$name" "failing lines on stdout: '$got', marked: '$want'"
	elif [[ $diag != "$want" ]]; then
		_fail "$name" "'expect failed' errors on stderr at lines '$diag', marked: '$want'"
	else
		_ok "$name (fails at lines $want, as marked)"
	fi
}

shopt -s nullglob
policies=("$dir"/*.steer)
failing=("$dir"/fail/*.steer)
if [[ ${#policies[@]} -eq 0 || ${#failing[@]} -eq 0 ]]; then
	echo "FAIL setup: no policies under $dir or $dir/fail"
	failed=$((failed + 1))
fi
for f in "${policies[@]}"; do
	_pass_case "$f"
done
for f in "${failing[@]}"; do
	_fail_case "$f"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

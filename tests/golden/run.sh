#!/usr/bin/env bash
# Golden tests: the compiler's output as text, compared with files kept beside
# the policies (as nftables' .t/.t.payload and bpftrace's codegen tests).
#
#   diag/NAME.steer  a policy with mistakes. NAME.out holds exactly what
#                    `steer check [ARGS] NAME.steer` prints on stderr, run from
#                    inside diag/ so messages name "NAME.steer", then a last line
#                    "exit: N". ARGS come from NAME.args when it exists (e.g.
#                    --werror). Companion files (includes) live in diag/inc/.
#                    Nothing may be printed on stdout.
#   ir/NAME.steer    a valid policy. NAME.ir holds exactly the stdout of
#                    `steer compile NAME.steer --emit ir`, run inside ir/; the
#                    command must exit 0 and print nothing on stderr.
#   c/NAME.steer     a valid policy. NAME.c holds the generated BPF C
#                    (`--emit c`, the dry-run dump), NAME.tree the decision
#                    structure (`--emit tree`); the C must also compile with
#                    clang (`steer compile --emit obj -o`). NAME.args, when it exists, adds
#                    options to each (e.g. --strategy table).
#
# Usage: bash tests/golden/run.sh path/to/steer
#
# STEER_UPDATE_GOLDEN=1 rewrites the .out/.ir files from the current output
# instead of comparing (the BPFTRACE_UPDATE_TESTS switch). Read every rewritten
# file before committing it: a golden is only as right as the eye that checked it.
set -uo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 path/to/steer" >&2
	exit 2
fi
steer=$1
[[ $steer == /* ]] || steer=$PWD/$steer
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
update=${STEER_UPDATE_GOLDEN:-0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Diagnostics must not depend on the terminal.
export NO_COLOR=1 LC_ALL=C

passed=0
failed=0

# _compare NAME GOLDEN ACTUAL: updates GOLDEN, or reports ok/FAIL with a diff.
_compare() {
	local name=$1 golden=$2 actual=$3
	if [[ $update == 1 ]]; then
		cp "$actual" "$golden"
		echo "ok   $name (updated)"
		passed=$((passed + 1))
	elif [[ ! -f $golden ]]; then
		echo "FAIL $name: no golden file ${golden#"$here"/}; generate it with STEER_UPDATE_GOLDEN=1"
		failed=$((failed + 1))
	elif diff -u --label "${golden#"$here"/}" --label actual "$golden" "$actual" >"$tmp/diff"; then
		echo "ok   $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		cat "$tmp/diff"
		failed=$((failed + 1))
	fi
}

_fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

# A golden whose policy was removed or renamed would silently test nothing.
_orphans() {
	local dir=$1 ext=$2 g
	for g in "$here/$dir"/*."$ext"; do
		[[ -e $g ]] || continue
		[[ -f ${g%."$ext"}.steer ]] || _fail "$dir/$(basename "$g")" "golden file without a policy"
	done
}

_diag_case() {
	local policy=$1 name args=() status
	name=$(basename "$policy" .steer)
	if [[ -f $here/diag/$name.args ]]; then
		read -r -a args <"$here/diag/$name.args"
	fi
	(cd "$here/diag" && "$steer" check "${args[@]}" "$name.steer") >"$tmp/stdout" 2>"$tmp/actual"
	status=$?
	echo "exit: $status" >>"$tmp/actual"
	if [[ -s $tmp/stdout ]]; then
		_fail "diag/$name" "steer check printed on stdout:"
		cat "$tmp/stdout"
		return
	fi
	_compare "diag/$name" "$here/diag/$name.out" "$tmp/actual"
}

# _emit_case DIR EMIT EXT POLICY: stdout of `steer compile --emit EMIT` against DIR/NAME.EXT.
_emit_case() {
	local dir=$1 emit=$2 ext=$3 policy=$4 name status args=()
	name=$(basename "$policy" .steer)
	[[ -f $here/$dir/$name.args ]] && read -ra args <"$here/$dir/$name.args"
	(cd "$here/$dir" && "$steer" compile "$name.steer" --emit "$emit" "${args[@]}") >"$tmp/actual" 2>"$tmp/stderr"
	status=$?
	if [[ $status -ne 0 || -s $tmp/stderr ]]; then
		_fail "$dir/$name.$ext" "steer compile --emit $emit exited $status, stderr:"
		cat "$tmp/stderr"
		return
	fi
	_compare "$dir/$name.$ext" "$here/$dir/$name.$ext" "$tmp/actual"
}

# The dry-run dump is only worth reviewing if it is what gets loaded: it must compile.
_obj_case() {
	local policy=$1 name args=()
	name=$(basename "$policy" .steer)
	[[ -f $here/c/$name.args ]] && read -ra args <"$here/c/$name.args"
	if (cd "$here/c" && "$steer" compile "$name.steer" --emit obj -o "$tmp/$name.o" "${args[@]}") 2>"$tmp/stderr" && [[ -s $tmp/$name.o ]]; then
		echo "ok   c/$name.o"
		passed=$((passed + 1))
	else
		_fail "c/$name.o" "steer compile --emit obj -o did not produce an object:"
		cat "$tmp/stderr"
	fi
}

shopt -s nullglob
diag=("$here"/diag/*.steer)
ir=("$here"/ir/*.steer)
c=("$here"/c/*.steer)
if [[ ${#diag[@]} -eq 0 || ${#ir[@]} -eq 0 || ${#c[@]} -eq 0 ]]; then
	_fail "setup" "no policies under $here/diag, $here/ir or $here/c"
fi
for p in "${diag[@]}"; do
	_diag_case "$p"
done
for p in "${ir[@]}"; do
	_emit_case ir ir ir "$p"
done
for p in "${c[@]}"; do
	_emit_case c c c "$p"
	_emit_case c tree tree "$p"
	[[ $update == 1 ]] || _obj_case "$p"
done
if [[ $update != 1 ]]; then
	_orphans diag out
	_orphans diag args
	_orphans ir ir
	_orphans c c
	_orphans c tree
	_orphans c args
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

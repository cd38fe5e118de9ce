#!/usr/bin/env bash
# Every example policy checks clean (warnings are errors) and its expects pass.
set -euo pipefail
steer=$1
status=0
for f in examples/*.steer; do
	if ! "$steer" check --werror "$f"; then
		echo "FAIL: steer check --werror $f"
		status=1
		continue
	fi
	out=$("$steer" test "$f") || { echo "FAIL: steer test $f"; echo "$out"; status=1; continue; }
	last=$(tail -n 1 <<<"$out")
	case "$last" in
	"0 passed, 0 failed") echo "FAIL: $f has no expects"; status=1 ;;
	*" 0 failed") echo "ok   $f: $last" ;;
	*) echo "FAIL: $f: $last"; status=1 ;;
	esac
done
exit $status

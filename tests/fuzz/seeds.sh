#!/bin/bash
# Run every fuzz harness over its seed corpus as a regression test.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
bld=${top_builddir:-$src}
pass=0 fail=0
for h in addr; do
	if "$bld/tests/fuzz/fuzz_${h}_seeds" "$src/tests/fuzz/corpus/$h"; then
		echo "PASS: fuzz_$h seed corpus ($(ls "$src/tests/fuzz/corpus/$h" | wc -l) inputs)"
		pass=$((pass + 1))
	else
		echo "FAIL: fuzz_$h seed corpus"
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/bash
# Run every fuzz harness over its seed corpus as a regression test.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
bld=${top_builddir:-$src}
pass=0 fail=0
# corpus directory of each harness
corpus() { case "$1" in ingest | aggregate) echo "$src/tests/feedback/corpus" ;; *) echo "$src/tests/fuzz/corpus/$1" ;; esac; }
for h in addr listunsub ingest aggregate rdata dmarc; do
	if "$bld/tests/fuzz/fuzz_${h}_seeds" "$(corpus "$h")"; then
		echo "PASS: fuzz_$h seed corpus ($(ls "$(corpus "$h")" | wc -l) inputs)"
		pass=$((pass + 1))
	else
		echo "FAIL: fuzz_$h seed corpus"
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

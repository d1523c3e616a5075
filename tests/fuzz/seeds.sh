#!/bin/bash
# Run every fuzz harness over its seed corpus as a regression test.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
bld=${top_builddir:-$src}
pass=0 fail=0
# corpus directories of each harness (ingest: the feedback corpus and what
# libFuzzer found beyond it)
corpus() {
	case "$1" in
	ingest) dirs=("$src/tests/feedback/corpus" "$src/tests/fuzz/corpus/ingest") ;;
	aggregate) dirs=("$src/tests/feedback/corpus") ;;
	*) dirs=("$src/tests/fuzz/corpus/$1") ;;
	esac
}
for h in addr listunsub ingest aggregate rdata dmarc; do
	corpus "$h"
	if "$bld/tests/fuzz/fuzz_${h}_seeds" "${dirs[@]}"; then
		echo "PASS: fuzz_$h seed corpus ($(find "${dirs[@]}" -maxdepth 1 -type f | wc -l) inputs)"
		pass=$((pass + 1))
	else
		echo "FAIL: fuzz_$h seed corpus"
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

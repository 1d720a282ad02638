#!/usr/bin/env bash
# Runs every fuzz target of the repository (each `func FuzzX` in a _test.go
# file) for FUZZTIME each, one after the other. New fuzz targets are found
# without being listed here. A failing input is saved by `go test` under the
# package's testdata/fuzz/FuzzX/: commit it, it then runs in every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
targets=$(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed 's|^\./||; s|/[^/]*_test.go:func | |' | sort)
n=$(printf '%s\n' "$targets" | grep -c . || true)
if [ "$n" = 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: $n targets, $FUZZTIME each"
# Go 1.26's fuzz coordinator can end a duration-bound run with a bare
# "context deadline exceeded" (go.dev/issue/75804: a race at the -fuzztime
# boundary, likelier on a busy machine) and no failing input. A run that
# fails so, and saved no new input under testdata/fuzz/, is taken again, up
# to three times; a failing input always makes the run fail.
corpus_count() { { find "./$1/testdata/fuzz/$2" -type f 2>/dev/null || true; } | wc -l; }
while read -r dir name; do
  for try in 1 2 3; do
    echo "fuzz: ./$dir $name"
    before=$(corpus_count "$dir" "$name")
    log=$(mktemp)
    if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "./$dir" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
      rm -f "$log"
      break
    fi
    raced=false
    if grep -q '^    context deadline exceeded$' "$log" && [ "$(corpus_count "$dir" "$name")" = "$before" ]; then
      raced=true
    fi
    rm -f "$log"
    if ! $raced || [ "$try" = 3 ]; then
      exit 1
    fi
    echo "fuzz: $name: the coordinator's deadline race (go.dev/issue/75804), no failing input: again"
  done
done <<< "$targets"

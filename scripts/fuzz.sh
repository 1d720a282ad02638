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
while read -r dir name; do
  echo "fuzz: ./$dir $name"
  "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "./$dir"
done <<< "$targets"

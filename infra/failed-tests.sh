#!/usr/bin/env bash
# Prints the failed tests of a TRX file: name, message and the first lines of the
# stack trace. `make test` calls it when the run fails, so the reason is the last
# thing in the log, not 10,000 lines above it among the passing tests' output.
set -uo pipefail
trx="${1:?usage: failed-tests.sh results.trx}"
[ -f "$trx" ] || { echo "failed-tests: no $trx" >&2; exit 0; }

awk '
  function unescape(s) {
    gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
    gsub(/&apos;/, "\047", s); gsub(/&#xD;/, "", s); gsub(/&#xA;/, "\n", s)
    gsub(/&amp;/, "\\&", s); return s
  }
  /<UnitTestResult / {
    failed = ($0 ~ /outcome="Failed"/)
    if (failed) {
      name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name)
      duration = $0; sub(/.*duration="/, "", duration); sub(/".*/, "", duration)
      count++
      printf "\n=== FAILED %s (%s)\n", unescape(name), duration
    }
    trace_lines = 0; in_message = 0; in_trace = 0
  }
  failed && /<Message>/ { in_message = 1; sub(/.*<Message>/, "") }
  failed && in_message {
    line = $0; done = sub(/<\/Message>.*/, "", line)
    print unescape(line); if (done) in_message = 0; next
  }
  failed && /<StackTrace>/ { in_trace = 1; sub(/.*<StackTrace>/, "") }
  failed && in_trace {
    line = $0; done = sub(/<\/StackTrace>.*/, "", line)
    if (trace_lines++ < 12) print unescape(line)
    if (done) in_trace = 0; next
  }
  /<\/UnitTestResult>/ { failed = 0 }
  END { printf "\n%d failed test(s) in %s\n", count, FILENAME }
' "$trx"

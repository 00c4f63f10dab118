#!/usr/bin/env bash
# Worker benchmarks against a real SMTP server (Postfix's smtp-sink), release
# build. Prints one line per run, then a summary table: median of the runs,
# [min..max] spread, PASS/FAIL per target.
#
#   benches/worker.sh               # everything (~2-3 minutes)
#   benches/worker.sh speed         # 1. speed to lead: 100 leads added in one burst,
#                                   #    add -> SMTP accepted p50 < 100 ms, p99 < 1 s;
#                                   #    once with a 24/7 sequence, once with the shipped
#                                   #    default for leads whose local time is Saturday night
#   benches/worker.sh saturday      #    only the second
#   benches/worker.sh throughput    # 2. touches/s, nudge vs bare lettre at the same
#                                   #    concurrency (1 and 8), nudge >= 0.7 x bare
#
# Knobs (environment), defaults in brackets:
#   NUDGE_BENCH_RUNS [3]            repetitions of every measurement
#   NUDGE_BENCH_BURST [100]         leads in the speed-to-lead burst
#   NUDGE_BENCH_SPEED_CONCURRENCY [8]   [engine] concurrency for speed to lead
#   NUDGE_BENCH_TOUCHES [1000]      due touches for throughput (concurrency > 1)
#   NUDGE_BENCH_TOUCHES_C1 [200]    due touches for throughput at concurrency 1
#   NUDGE_BENCH_CONCURRENCY [1,8]   throughput concurrencies
#   NUDGE_LOG                       e.g. info: the worker's log lines on stderr
# Needs cargo and smtp-sink (apt-get install postfix; see
# /work/shared/notes/test-servers.md or .ci/run). Equivalent to
# `cargo bench --bench worker -- ARGS` from the repository root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v smtp-sink >/dev/null 2>&1 \
    && [ ! -x /usr/sbin/smtp-sink ] && [ ! -x /usr/lib/postfix/sbin/smtp-sink ]; then
    echo "smtp-sink (Postfix) is not installed. Install it with:" >&2
    echo "  apt-get update && echo 'postfix postfix/main_mailer_type select No configuration'" \
        "| debconf-set-selections && DEBIAN_FRONTEND=noninteractive apt-get install -y" \
        "--no-install-recommends postfix" >&2
    exit 1
fi

exec cargo bench --bench worker -- "$@"

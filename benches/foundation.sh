#!/usr/bin/env bash
# Foundation performance targets, measured end to end on this machine.
#
#   benches/foundation.sh            # from any directory
#
# 1. `nudge import` of a deterministic 100k-row CSV (rows/s, target >= 20000),
#    checking afterwards, from a new process, that every lead is stored.
# 2. A database seeded with `nudge dev seed --leads 1000000 --due 1000`
#    (seed time and `du -sh`), then:
#    a. `Store::due_until(now, 1000)` p50/p99 via `cargo bench --bench store` (< 5 ms)
#    b. `nudge leads --status active --limit 50`, process start to exit (< 100 ms)
#    c. peak RSS of `nudge leads --status active --limit 50`, `nudge leads
#       --limit 50` and `nudge show ID` (< 128 MB)
# Every measurement is repeated NUDGE_BENCH_RUNS times (default 3); the summary
# shows the median and the min..max spread of those runs.
#
# Knobs (environment):
#   NUDGE_BENCH_ROWS=100000     CSV rows to import
#   NUDGE_BENCH_LEADS=1000000   leads to seed      NUDGE_BENCH_DUE=1000  of them due now
#   NUDGE_BENCH_RUNS=3          repetitions        NUDGE_BENCH_CACHE_MB=32  [store] cache_mb
#   NUDGE_BENCH_DB=DIR          reuse an existing seeded data dir (not seeded, not deleted)
#   NUDGE_BENCH_SKIP_IMPORT=1   skip part 1        NUDGE_BENCH_KEEP=1  keep the scratch dir
# Needs: cargo, awk; optional: hyperfine (else a date loop), GNU time at
# /usr/bin/time (else RSS is skipped): `apt-get install -y hyperfine time`.
# It builds the working tree as it is. To measure the last commit while the
# tree is mid-edit (or does not build), run a pristine copy:
#   d=$(mktemp -d) && git archive HEAD | tar -x -C "$d" && "$d/benches/foundation.sh"; rm -rf "$d"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROWS=${NUDGE_BENCH_ROWS:-100000}
LEADS=${NUDGE_BENCH_LEADS:-1000000}
DUE=${NUDGE_BENCH_DUE:-1000}
RUNS=${NUDGE_BENCH_RUNS:-3}
CACHE_MB=${NUDGE_BENCH_CACHE_MB:-32}
REUSE_DB=${NUDGE_BENCH_DB:-}

# Config overrides from the caller's environment would make runs incomparable.
for var in $(compgen -e | grep -E '^NUDGE_(GENERAL|SENDER|STORE)_' || true); do
    unset "$var"
done

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/nudge-foundation.XXXXXX")
cleanup() {
    if [[ ${NUDGE_BENCH_KEEP:-0} == 1 ]]; then
        echo "kept scratch dir $SCRATCH"
    else
        rm -rf "$SCRATCH"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n== %s\n' "$*" >&2; }
now_ns() { date +%s%N; }
# median and spread of numbers on stdin: "median min max"
stats() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "n/a n/a n/a"; exit}
    m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'; }
# peak RSS in MiB of a command (GNU time -v)
rss_mb() { /usr/bin/time -v -o "$SCRATCH/time.txt" "$@" >/dev/null
    awk -F': *' '/Maximum resident set size/ {printf "%.1f\n", $2/1024}' "$SCRATCH/time.txt"; }

log "machine"
{
    echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "scratch: $SCRATCH ($(df -hT "$SCRATCH" | awk 'NR==2 {print $2 " on " $1}'))"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes in src/Cargo')"
    else
        echo "commit: not a git checkout (e.g. a git archive copy)"
    fi
} | tee "$SCRATCH/machine.txt" >&2

log "building (release)"
executable() { grep -o "\"executable\":\"[^\"]*/$1\"" | tail -1 | sed 's/^"executable":"//; s/"$//'; }
NUDGE_SRC=$(cargo build --release --bin nudge --message-format=json | executable nudge)
BENCH_SRC=$(cargo bench --bench store --no-run --message-format=json | executable 'store-[0-9a-f]*')
# Private copies: a concurrent rebuild must not swap binaries mid-measurement.
mkdir -p "$SCRATCH/bin"
cp "$NUDGE_SRC" "$SCRATCH/bin/nudge"
cp "$BENCH_SRC" "$SCRATCH/bin/store-bench"
NUDGE=$SCRATCH/bin/nudge

# Scratch config; run from the scratch dir so no ./sequences folder is picked up.
cat >"$SCRATCH/config.toml" <<EOF
[general]
default_region = "US"

[store]
cache_mb = $CACHE_MB
EOF
export NUDGE_CONFIG=$SCRATCH/config.toml
cd "$SCRATCH"

HAVE_TIME=0
[[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1 && HAVE_TIME=1
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null && HAVE_HYPERFINE=1

declare -A RESULT

# ---------------------------------------------------------------- 1. import
if [[ ${NUDGE_BENCH_SKIP_IMPORT:-0} != 1 ]]; then
    log "generating $ROWS CSV rows"
    awk -v rows="$ROWS" -v seed=42 -f "$ROOT/benches/gen_csv.awk" >"$SCRATCH/leads.csv"
    echo "leads.csv: $(du -h "$SCRATCH/leads.csv" | cut -f1), md5 $(md5sum <"$SCRATCH/leads.csv" | cut -c1-12)" >&2

    : >"$SCRATCH/import.rates"
    : >"$SCRATCH/import.secs"
    : >"$SCRATCH/import.rss"
    : >"$SCRATCH/import.cpu"
    for run in $(seq 1 "$RUNS"); do
        export NUDGE_DATA_DIR=$SCRATCH/import-data
        rm -rf "$NUDGE_DATA_DIR"
        sync
        start=$(now_ns)
        rc=0
        if [[ $HAVE_TIME == 1 ]]; then
            /usr/bin/time -v -o "$SCRATCH/time.txt" "$NUDGE" import leads.csv >"$SCRATCH/import.out" || rc=$?
        else
            "$NUDGE" import leads.csv >"$SCRATCH/import.out" || rc=$?
        fi
        end=$(now_ns)
        if [[ $rc != 0 && $rc != 3 ]]; then
            cat "$SCRATCH/import.out" >&2
            echo "import failed (exit $rc)" >&2
            exit 1
        fi
        summary=$(head -1 "$SCRATCH/import.out")
        imported=$(sed -n 's/^imported \([0-9]*\) of.*/\1/p' <<<"$summary")
        # Durability as seen by a new process: every imported lead is there.
        stored=$("$NUDGE" export --format jsonl | wc -l)
        secs=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", (e-s)/1e9}')
        rate=$(awk -v r="$ROWS" -v t="$secs" 'BEGIN {printf "%.0f", r/t}')
        rss=n/a
        cpu=n/a
        if [[ $HAVE_TIME == 1 ]]; then
            rss=$(awk -F': *' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$SCRATCH/time.txt")
            # CPU seconds (user + sys) are less sensitive to a busy machine than wall time.
            cpu=$(awk -F': *' '/User time|System time/ {t += $2} END {printf "%.2f", t}' "$SCRATCH/time.txt")
        fi
        echo "run $run: $summary; ${secs}s = $rate rows/s; cpu ${cpu}s; peak RSS ${rss} MiB; stored after exit: $stored" >&2
        if [[ $run == 1 && $rc == 3 ]]; then
            sed -n '2,6p' "$SCRATCH/import.out" >&2
        fi
        if [[ "$stored" != "$imported" ]]; then
            echo "DURABILITY CHECK FAILED: imported $imported, a new process sees $stored" >&2
            exit 1
        fi
        echo "$rate" >>"$SCRATCH/import.rates"
        echo "$secs" >>"$SCRATCH/import.secs"
        echo "$rss" >>"$SCRATCH/import.rss"
        echo "$cpu" >>"$SCRATCH/import.cpu"
    done
    RESULT[import_rate]=$(stats <"$SCRATCH/import.rates")
    RESULT[import_secs]=$(stats <"$SCRATCH/import.secs")
    RESULT[import_rss]=$(grep -v n/a "$SCRATCH/import.rss" | stats)
    RESULT[import_cpu]=$(grep -v n/a "$SCRATCH/import.cpu" | stats)
    RESULT[import_rows]="$imported of $ROWS imported, $stored visible to a new process"
    rm -rf "$SCRATCH/import-data"
fi

# ---------------------------------------------------------------- 2. seed
if [[ -n $REUSE_DB ]]; then
    export NUDGE_DATA_DIR=$REUSE_DB
    log "reusing $REUSE_DB (not seeded here)"
    RESULT[seed]="reused"
else
    export NUDGE_DATA_DIR=$SCRATCH/seed-data
    log "seeding $LEADS leads ($DUE due)"
    start=$(now_ns)
    "$NUDGE" dev seed --leads "$LEADS" --due "$DUE" | tee "$SCRATCH/seed.out" >&2
    end=$(now_ns)
    RESULT[seed]=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", (e-s)/1e9}')
fi
RESULT[du]=$(du -sh "$NUDGE_DATA_DIR" | cut -f1)
echo "data dir: ${RESULT[du]} ($(du -sb "$NUDGE_DATA_DIR" | cut -f1) bytes)" >&2

# First command after seeding: sled recovers whatever was not snapshotted.
start=$(now_ns)
"$NUDGE" leads --status active --limit 50 >/dev/null
end=$(now_ns)
RESULT[first_leads]=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", (e-s)/1e6}')
echo "first \`nudge leads --status active --limit 50\` after seeding: ${RESULT[first_leads]} ms" >&2

# ---------------------------------------------------------------- 2a. due head
log "2a: Store::due_until(now, 1000) (benches/store.rs)"
: >"$SCRATCH/due.p50"
: >"$SCRATCH/due.p99"
: >"$SCRATCH/open.ms"
for run in $(seq 1 "$RUNS"); do
    NUDGE_BENCH_DB=$NUDGE_DATA_DIR NUDGE_BENCH_CACHE_MB=$CACHE_MB \
        "$SCRATCH/bin/store-bench" --bench | tee "$SCRATCH/bench.out" >&2
    sed -n 's/^due_head_1000 p50=\([0-9.]*\)ms.*/\1/p' "$SCRATCH/bench.out" >>"$SCRATCH/due.p50"
    sed -n 's/^due_head_1000 .*p99=\([0-9.]*\)ms.*/\1/p' "$SCRATCH/bench.out" >>"$SCRATCH/due.p99"
    sed -n 's/^open time=\([0-9.]*\)ms.*/\1/p' "$SCRATCH/bench.out" >>"$SCRATCH/open.ms"
done
RESULT[due_p50]=$(stats <"$SCRATCH/due.p50")
RESULT[due_p99]=$(stats <"$SCRATCH/due.p99")
RESULT[open]=$(stats <"$SCRATCH/open.ms")

# ---------------------------------------------------------------- 2b. leads end to end
LEADS_CMD=("$NUDGE" leads --status active --limit 50)
log "2b: ${LEADS_CMD[*]#"$SCRATCH/bin/"} end to end"
: >"$SCRATCH/e2e.ms"
for run in $(seq 1 "$RUNS"); do
    if [[ $HAVE_HYPERFINE == 1 ]]; then
        hyperfine -N --warmup 3 --runs 20 --export-json "$SCRATCH/hf.json" \
            "${LEADS_CMD[*]}" >&2
        sed -n 's/^ *"median": *\([0-9.e-]*\),*$/\1/p' "$SCRATCH/hf.json" | head -1 |
            awk '{printf "%.1f\n", $1*1000}' >>"$SCRATCH/e2e.ms"
    else
        : >"$SCRATCH/loop.ms"
        for _ in 1 2 3; do "${LEADS_CMD[@]}" >/dev/null; done
        for _ in $(seq 1 20); do
            start=$(now_ns)
            "${LEADS_CMD[@]}" >/dev/null
            end=$(now_ns)
            awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f\n", (e-s)/1e6}' >>"$SCRATCH/loop.ms"
        done
        m=$(stats <"$SCRATCH/loop.ms")
        echo "run $run: median/min/max ms: $m" >&2
        echo "${m%% *}" >>"$SCRATCH/e2e.ms"
    fi
done
RESULT[e2e]=$(stats <"$SCRATCH/e2e.ms")

# ---------------------------------------------------------------- 2c. peak RSS
SHOW_ID=$("$NUDGE" leads --limit 1 --json | sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')
if [[ $HAVE_TIME == 1 ]]; then
    log "2c: peak RSS (show $SHOW_ID)"
    : >"$SCRATCH/rss.active" ; : >"$SCRATCH/rss.all" ; : >"$SCRATCH/rss.show"
    for run in $(seq 1 "$RUNS"); do
        a=$(rss_mb "$NUDGE" leads --status active --limit 50)
        b=$(rss_mb "$NUDGE" leads --limit 50)
        c=$(rss_mb "$NUDGE" show "$SHOW_ID")
        echo "run $run: leads --status active ${a} MiB, leads ${b} MiB, show ${c} MiB" >&2
        echo "$a" >>"$SCRATCH/rss.active"; echo "$b" >>"$SCRATCH/rss.all"; echo "$c" >>"$SCRATCH/rss.show"
    done
    RESULT[rss_active]=$(stats <"$SCRATCH/rss.active")
    RESULT[rss_all]=$(stats <"$SCRATCH/rss.all")
    RESULT[rss_show]=$(stats <"$SCRATCH/rss.show")
else
    log "2c: skipped, /usr/bin/time (GNU time) is not installed"
fi

# ---------------------------------------------------------------- summary
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$SCRATCH/machine.txt"
row() { # name, "median min max", unit, comparison (ge|le), target
    local name=$1 s=$2 unit=$3 cmp=${4:-} target=${5:-}
    read -r med lo hi <<<"$s"
    local verdict=""
    if [[ -n $cmp && $med != n/a ]]; then
        verdict=$(awk -v m="$med" -v t="$target" -v c="$cmp" 'BEGIN {
            ok = (c == "ge") ? (m >= t) : (m < t); print ok ? "PASS" : "FAIL" }')
    fi
    local goal=""
    [[ -n $cmp ]] && goal="$([[ $cmp == ge ]] && echo ">=" || echo "<") $target $unit"
    printf '%-44s %12s %-7s %-22s %-16s %s\n' "$name" "$med" "$unit" "${lo}..${hi}" "$goal" "$verdict"
}
{
    echo
    echo "== nudge foundation benchmarks ($RUNS runs each; median, min..max of the runs)"
    cat "$SCRATCH/machine.txt"
    echo
    printf '%-44s %12s %-7s %-22s %-16s %s\n' measurement median unit spread target verdict
    if [[ -n ${RESULT[import_rate]:-} ]]; then
        row "1  import $ROWS CSV rows (throughput)" "${RESULT[import_rate]}" rows/s ge 20000
        row "1  import $ROWS CSV rows (wall)" "${RESULT[import_secs]}" s
        if [[ $HAVE_TIME == 1 ]]; then
            row "1  import CPU time (user+sys)" "${RESULT[import_cpu]}" s
            row "1  import peak RSS" "${RESULT[import_rss]}" MiB
        fi
        echo "   (${RESULT[import_rows]})"
    fi
    echo "2  seed $LEADS leads ($DUE due): ${RESULT[seed]} s; data dir ${RESULT[du]} (du -sh)"
    echo "   first \`leads --status active\` after seeding: ${RESULT[first_leads]} ms"
    row "2a Store::open ($LEADS leads, informational)" "${RESULT[open]}" ms
    row "2a due_until(now, 1000) p50" "${RESULT[due_p50]}" ms le 5
    row "2a due_until(now, 1000) p99" "${RESULT[due_p99]}" ms le 5
    row "2b leads --status active --limit 50 (e2e)" "${RESULT[e2e]}" ms le 100
    if [[ -n ${RESULT[rss_active]:-} ]]; then
        row "2c RSS leads --status active --limit 50" "${RESULT[rss_active]}" MiB le 128
        row "2c RSS leads --limit 50" "${RESULT[rss_all]}" MiB le 128
        row "2c RSS show ID" "${RESULT[rss_show]}" MiB le 128
    fi
} | tee "$SCRATCH/summary.txt"

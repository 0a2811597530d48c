#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one at a time, niced, and prints the
# figures of each run: executions, coverage (edges), corpus size, crashes. A crash leaves its
# input under host/fuzz/artifacts/TARGET/ and makes the script exit 1.
#
#   host/fuzz/run.sh [SECONDS] [TARGET...]      (default: 30 s each, every target)
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(frame_decode messages resolve_image mask_modifiers decode config manifest)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz and the nightly toolchain are needed: cargo install cargo-fuzz; rustup toolchain install nightly" >&2
    exit 2
fi
nice cargo +nightly fuzz build --fuzz-dir host/fuzz -O >/dev/null 2>&1 \
    || nice cargo +nightly fuzz build --fuzz-dir host/fuzz -O || exit 2
logs="${FUZZ_LOGS:-host/fuzz/target/logs}"
mkdir -p "$logs"
status=0
printf '%-15s %8s %12s %10s %8s %8s %s\n' target seconds executions exec/s edges corpus crashes
for t in "${targets[@]}"; do
    mkdir -p "host/fuzz/corpus/$t" "host/fuzz/artifacts/$t"
    corpus="host/fuzz/corpus/$t"
    if [ "${FUZZ_CORPUS_COPY:-0}" = 1 ]; then
        # Fuzz a copy, so that a CI run leaves the committed corpus as it is.
        corpus="host/fuzz/target/corpus-copy/$t"
        rm -rf "$corpus" && mkdir -p "$corpus" && cp -r "host/fuzz/corpus/$t/." "$corpus/"
    fi
    nice cargo +nightly fuzz run --fuzz-dir host/fuzz -O "$t" "$corpus" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="host/fuzz/artifacts/$t/" >"$logs/$t.log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*')
    corp=$(ls "$corpus" | wc -l)
    crashes=$(ls "host/fuzz/artifacts/$t" 2>/dev/null | wc -l)
    printf '%-15s %8s %12s %10s %8s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$corp" "$crashes"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        grep -E 'ERROR|panicked|SUMMARY' "$logs/$t.log" | head -5
    fi
done
exit "$status"

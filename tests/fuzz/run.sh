#!/usr/bin/env bash
#
# run.sh - a libFuzzer campaign over the ixmesh fuzz harnesses.
#
#   tests/fuzz/run.sh [--merge] [--jobs N] SECONDS [NAME...]
#
# Configures and builds a clang IXMESH_FUZZ build in build-fuzz/, then runs
# every harness (or the NAMEs given, e.g. msg_hello) for SECONDS each, N at
# a time (default 2, the size of the build machine).  Each harness works on
# build-fuzz/corpus/NAME, seeded from the committed tests/fuzz/corpus/NAME,
# and writes what makes it fail to build-fuzz/crashes/NAME/; its output is
# in build-fuzz/logs/NAME.log.  With --merge, the inputs that reach new
# code (edges) are merged back into tests/fuzz/corpus/NAME (libFuzzer
# -merge=1: only what adds coverage is copied, the committed seeds stay).
#
# SECONDS 0 skips the campaign: with --merge, it only merges what earlier
# runs left in build-fuzz/corpus/.
#
# Prints per harness the executions, executions per second, coverage (cov:
# edges and ft: features from libFuzzer's last status line) and whether it
# failed.  Exits 1 when any harness crashed, leaked, timed out or ran out
# of memory; 2 on a usage error.
#
# The seeds themselves come from gen_seeds (tests/fuzz/gen_seeds.c): build
# it in any build folder and run  gen_seeds tests/fuzz/corpus  to refresh
# them after a wire format change.
set -euo pipefail

usage() {
    echo "usage: $0 [--merge] [--jobs N] SECONDS [NAME...]" >&2
    exit 2
}

merge=0
jobs=2
while [ $# -gt 0 ]; do
    case $1 in
    --merge) merge=1; shift ;;
    --jobs) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage
secs=$1
shift
[[ $secs =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]] || usage
# libFuzzer reads -max_total_time=0 as "no limit".
[ "$secs" -gt 0 ] || [ "$merge" = 1 ] || usage

src=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$src/../.." && pwd)
build=$root/build-fuzz

names=()
if [ $# -gt 0 ]; then
    names=("$@")
else
    for f in "$src"/fuzz_*.c; do
        n=${f##*/fuzz_}
        names+=("${n%.c}")
    done
fi
targets=()
for n in "${names[@]}"; do
    if [ ! -f "$src/fuzz_$n.c" ]; then
        echo "run.sh: no harness $n (tests/fuzz/fuzz_$n.c)" >&2
        exit 2
    fi
    targets+=("fuzz_$n")
done

# -Werror is for the normal builds; a clang warning must not stop a campaign.
mkdir -p "$build/logs"
echo "run.sh: building ${#targets[@]} harnesses in $build" >&2
if ! { cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DIXMESH_FUZZ=ON \
    -DIXMESH_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$build" -j 2 --target "${targets[@]}"; } >"$build/logs/build.log" 2>&1; then
    tail -n 30 "$build/logs/build.log" >&2
    echo "run.sh: build failed, see $build/logs/build.log" >&2
    exit 1
fi

# UBSan aborts on the first report (-fno-sanitize-recover); show its stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

dict_for() {
    case $1 in
    config_*) echo "-dict=$src/dict/ini.dict" ;;
    frame | msg* | sketch) echo "-dict=$src/dict/msgpack.dict" ;;
    esac
}

# Runs one harness; its exit code goes to logs/NAME.rc.
run_one() {
    local n=$1 corpus=$build/corpus/$1 crashes=$build/crashes/$1 rc=0
    local dict

    mkdir -p "$corpus" "$crashes"
    cp -n "$src/corpus/$n"/* "$corpus"/ 2>/dev/null || true
    dict=$(dict_for "$n")
    "$build/fuzz/fuzz_$n" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$crashes/" ${dict:+"$dict"} "$corpus" \
        >"$build/logs/$n.log" 2>&1 || rc=$?
    echo "$rc" >"$build/logs/$n.rc"
}

# Runs every harness, $jobs at a time.
campaign() {
    local n running=0

    for n in "${names[@]}"; do
        echo "run.sh: fuzzing $n for ${secs}s" >&2
        run_one "$n" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait -n || true
            running=$((running - 1))
        fi
    done
    wait
}

# One line per harness from its log; returns 1 when any of them failed.
report() {
    local n log rc execs speed status cov ft ncorpus artifacts result ret=0

    printf '%-18s %12s %9s %7s %7s %7s  %s\n' harness execs exec/s cov ft corpus result
    for n in "${names[@]}"; do
        log=$build/logs/$n.log
        rc=$(cat "$build/logs/$n.rc")
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        status=$(grep -E '^#[0-9]+.* cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
        ncorpus=$(find "$build/corpus/$n" -type f | wc -l)
        artifacts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
        if [ "$rc" = 0 ] && [ -z "$artifacts" ]; then
            result=ok
        else
            result="FAILED (exit $rc) ${artifacts:-see $log}"
            ret=1
        fi
        printf '%-18s %12s %9s %7s %7s %7s  %s\n' "$n" "${execs:--}" "${speed:--}" \
            "${cov:--}" "${ft:--}" "$ncorpus" "$result"
    done
    return $ret
}

failed=0
if [ "$secs" -gt 0 ]; then
    campaign
    report || failed=1
fi

if [ "$merge" = 1 ]; then
    for n in "${names[@]}"; do
        committed=$src/corpus/$n
        mkdir -p "$committed"
        before=$(find "$committed" -type f | wc -l)
        # Edges only (-use_counters=0): hit counts would keep many more files
        # for the same coverage; the working corpus keeps them all.
        if ! "$build/fuzz/fuzz_$n" -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=10 \
            "$committed" "$build/corpus/$n" >"$build/logs/$n.merge.log" 2>&1; then
            echo "run.sh: merging $n failed, see $build/logs/$n.merge.log" >&2
            failed=1
            continue
        fi
        after=$(find "$committed" -type f | wc -l)
        echo "run.sh: $n: $((after - before)) inputs merged into tests/fuzz/corpus/$n ($after)"
        if [ "$after" -ge 200 ]; then
            echo "run.sh: $n: corpus has $after files; keep it under 200" >&2
        fi
    done
fi
exit "$failed"

#!/bin/bash
# run.sh - every test, as CI runs them (.ci/run calls this).
#
# Installs what is missing (deploy/deps.sh test), then builds twice and runs
# the whole ctest suite in each build:
#   build/      the optimised build (Release, gcc): at -O3 gcc's flow
#               warnings see furthest, and -Werror makes them fail the build
#   build-san/  AddressSanitizer + UndefinedBehaviorSanitizer (clang by
#               default; IXMESH_SAN_CC=gcc to change it on a fresh build-san)
# Both builds are tested even when the first fails, and a last line sums up.
# IXMESH_TEST_BUILD_ROOT puts the two build directories elsewhere (default:
# the repository root).
# Exits 0 only when both builds compiled and every test passed.
set -euo pipefail

PROG=tests/run.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=$(nproc)
SAN_CC=${IXMESH_SAN_CC:-clang}
BUILD_ROOT=${IXMESH_TEST_BUILD_ROOT:-$ROOT}
RESULTS=()
FAILED=0

say() { echo "=== $PROG: $*"; }

usage() {
    cat <<EOF
usage: $PROG [-R REGEX]

Installs the missing Debian packages, builds build/ and build-san/
(-DIXMESH_SANITIZE=ON) and runs ctest in both.
  -R REGEX   run only the tests whose name matches (passed to ctest)
EOF
}

# build DIR CMAKE_ARGS...: configures and builds.  The arguments count on an
# existing build directory too (a changed CMAKE_BUILD_TYPE takes effect),
# but for -DCMAKE_C_COMPILER: an existing cache keeps its compiler.
build() {
    local dir=$1 a args=()
    shift
    for a; do
        if [[ ! -f $dir/CMakeCache.txt || $a != -DCMAKE_C_COMPILER=* ]]; then
            args+=("$a")
        fi
    done
    cmake -S "$ROOT" -B "$dir" "${args[@]}" || return 1
    cmake --build "$dir" -j "$JOBS"
}

# run_tests NAME DIR: ctest in DIR; records a summary in RESULTS.
run_tests() {
    local name=$1 dir=$2 rc=0 line
    say "testing $name"
    ctest --test-dir "$dir" --output-on-failure -j2 "${CTEST_ARGS[@]}" \
        2>&1 | tee "$dir/ctest.log" || rc=$?
    line=$(grep -E '^[0-9]+% tests passed' "$dir/ctest.log" | tail -n 1 || true)
    if ((rc != 0)) || [[ -z $line ]]; then
        FAILED=1
        RESULTS+=("$name: FAILED (${line:-ctest did not run})")
    else
        RESULTS+=("$name: ok ($line)")
    fi
}

# one NAME DIR CMAKE_ARGS...: builds and tests one configuration.
one() {
    local name=$1 dir=$2
    shift 2
    say "building $name in $dir"
    if ! build "$dir" "$@"; then
        FAILED=1
        RESULTS+=("$name: BUILD FAILED")
        return 0
    fi
    run_tests "$name" "$dir"
}

main() {
    local start=$SECONDS r

    CTEST_ARGS=()
    while (($#)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        -R)
            (($# >= 2)) || {
                usage >&2
                exit 2
            }
            CTEST_ARGS+=(-R "$2")
            shift 2
            ;;
        *)
            usage >&2
            exit 2
            ;;
        esac
    done

    cd "$ROOT"
    say "dependencies"
    bash "$ROOT/deploy/deps.sh" test

    # Read by sanitized binaries only: report everything, stop at the first.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    one build "$BUILD_ROOT/build" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release
    one build-san "$BUILD_ROOT/build-san" -DIXMESH_SANITIZE=ON -DCMAKE_C_COMPILER="$SAN_CC" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo

    echo
    for r in "${RESULTS[@]}"; do say "$r"; done
    if ((FAILED)); then
        say "FAIL after $((SECONDS - start)) s"
        exit 1
    fi
    say "PASS: every test passed in build and build-san, $((SECONDS - start)) s"
}

main "$@"

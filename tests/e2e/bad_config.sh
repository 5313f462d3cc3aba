#!/bin/bash
# e2e.bad_config: the daemons refuse bad configuration with a clear message
# and a plain exit status, never an abort: a configuration error names the
# file, line and reason (exit 2); a database that cannot be opened, or a
# port in use, is an error of the run (exit 1), logged.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# expect STATUS REGEX CMD...: runs CMD, which must exit STATUS and print REGEX.
expect() {
    local want=$1 re=$2 rc=0
    shift 2
    timeout 20 "$@" >"$TMP/out" 2>&1 || rc=$?
    ((rc == want)) || fail "$* exited $rc, not $want: $(cat "$TMP/out")"
    grep -Eq -- "$re" "$TMP/out" || fail "$* did not say /$re/: $(cat "$TMP/out")"
    note "$(basename "$1") exited $rc: $(grep -Em1 -- "$re" "$TMP/out")"
}

main() {
    e2e_setup bad_config 15 "$1" "$2"
    make_certs p1
    write_controller_config
    write_probe_config p1 1

    printf '[probe]\nid = p1\ncolour = blue\n' >"$TMP/bad.ini"
    expect 2 "bad.ini:3: unknown key 'colour'" "$PROBE_BIN" --config "$TMP/bad.ini"
    sed 's/^\[mesh\]$/[mesh]\nnonsense = 1/' "$TMP/controller.ini" >"$TMP/typo.ini"
    expect 2 "typo.ini:[0-9]+: unknown key 'nonsense' in \\[mesh\\]" "$CONTROLLER_BIN" \
        --config "$TMP/typo.ini"
    sed -i "s|^database = .*|database = $TMP/no/such/dir/x.db|" "$TMP/controller.ini"
    expect 1 "database: .*unable to open" "$CONTROLLER_BIN" --config "$TMP/controller.ini"
    expect 2 "ixmesh-probe: --config FILE is required" "$PROBE_BIN"
    note "ok"
}

main "$@"

#!/bin/bash
# e2e.stamp_auth: `ixmesh-probe reflect --key-file` answers only packets
# signed with its key, over real sockets, IPv4 and IPv6.
#
# The right key gets every packet answered; another key, or no key, gets
# nothing back.  The reflector logs what it dropped when it stops.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# received TARGET [ARGS...]: how many of 3 packets came back.
received() {
    local target=$1 json
    shift
    json=$("$PROBE_BIN" measure stamp "$target" --count 3 --interval 50 --timeout 300 \
        --json "$@") || true
    "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["received"])' "$json" ||
        fail "measure printed no summary: $json"
}

main() {
    local target got

    e2e_setup stamp_auth 12 "$1" "$2"
    openssl rand -hex 32 >"$TMP/key"
    openssl rand -hex 32 >"$TMP/other.key"
    printf '#!/bin/sh\nexec %q reflect --listen %q --key-file %q\n' "$PROBE_BIN" \
        "[::]:$STAMP_PORT" "$TMP/key" >"$TMP/reflect.sh"
    chmod +x "$TMP/reflect.sh"
    : >"$TMP/none.ini"
    spawn reflector "$TMP/reflect.sh" "$TMP/none.ini"
    sleep 0.5
    alive reflector || fail "the reflector did not start: $(log_since reflector 0)"

    for target in "$NET.1:$STAMP_PORT" "[::1]:$STAMP_PORT"; do
        got=$(received "$target" --key-file "$TMP/key" --size 160)
        [[ $got == 3 ]] || fail "$target with the right key: $got of 3 answered"
        got=$(received "$target" --key-file "$TMP/other.key")
        [[ $got == 0 ]] || fail "$target with another key: $got answered"
        got=$(received "$target")
        [[ $got == 0 ]] || fail "$target without a key: $got answered"
        note "$target: right key 3/3, other key 0/3, no key 0/3"
    done
    stop reflector
    grep -q "6 reflected, 12 dropped" "$TMP/reflector.log" ||
        fail "the reflector's counts are not 6 reflected, 12 dropped: $(tail -2 "$TMP/reflector.log")"
    note "ok"
}

main "$@"

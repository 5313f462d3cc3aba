#!/bin/bash
# e2e.version: a controller and a probe of different protocol versions
# either agree on one or part with a clear error on both sides.
#
# The controller speaks version 1.  A probe offering 1 to 3 agrees on 1 and
# joins the mesh; a probe offering only 2 to 3 is refused with ERROR 3, and
# both logs say which versions each side speaks.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# probe_with_versions ID K RANGE: a probe that offers RANGE in its HELLO.
probe_with_versions() {
    local id=$1 k=$2 range=$3 wrapper=$TMP/probe-$1.sh
    write_probe_config "$id" "$k"
    printf '#!/bin/sh\nexec %q --protocol-versions %q "$@"\n' "$PROBE_BIN" "$range" >"$wrapper"
    chmod +x "$wrapper"
    spawn "$id" "$wrapper" "$TMP/$id.ini"
}

main() {
    local off line

    e2e_setup version 10 "$1" "$2"
    make_certs p1 p2 p3
    start_controller
    start_probe p1 1

    note "a probe offering versions 1 to 3 agrees on 1"
    probe_with_versions p2 2 1:3
    wait_connected 15 p1 p2
    line=$(wait_log p2 0 "speaks protocol version 1" 10) ||
        fail "p2 does not say which version was agreed: $(log_since p2 0)"
    note "p2: $line"
    wait_pairs 30 p1 p2

    note "a probe offering only versions 2 to 3 is refused, and both sides say why"
    off=$(log_size controller)
    probe_with_versions p3 3 2:3
    line=$(wait_log controller "$off" "no common protocol version: probe speaks 2 to 3, controller 1 to 1" 15) ||
        fail "the controller does not explain the refusal: $(log_since controller "$off")"
    note "controller: $line"
    line=$(wait_log p3 0 "error 3: no common protocol version: probe speaks 2 to 3, controller 1 to 1" 15) ||
        fail "p3 does not report the refusal: $(log_since p3 0)"
    note "p3: $line"
    [[ " $(connected_ids) " != *" p3 "* ]] || fail "p3 was let in"
    alive p3 || fail "p3 died instead of retrying with backoff"
    note "ok"
}

main "$@"

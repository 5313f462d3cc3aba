#!/bin/bash
# delivery.full_disk: probe p1 spools on a 64 KiB tmpfs while the
# controller is away, and fills it.  It must keep measuring, drop its
# oldest records to make room, and say how many; once the controller is
# back, the controller must show exactly that many missing (holes in p1's
# sequence numbers, and the drops p1 reported per window), and every other
# record stored exactly once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=delivery_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/delivery_lib.sh"

# dropped_in_log NAME: the records NAME's log says its spool dropped.
dropped_in_log() {
    grep -o 'dropped the [0-9]* oldest' "$TMP/$1.log" | awk '{ n += $3 } END { print n + 0 }'
}

main() {
    local t0 top after dropped

    ((EUID == 0)) || dl_skip delivery.full_disk "needs root (mounts a tmpfs)"
    e2e_setup delivery.full_disk 24 "$1" "$2"
    mkdir "$TMP/tiny"
    mount -t tmpfs -o size=64k,mode=0755 ixmesh-tiny "$TMP/tiny" ||
        fail "cannot mount a tmpfs on $TMP/tiny (root should be able to)"
    E2E_ON_EXIT="umount '$TMP/tiny' 2>/dev/null || true"
    # shellcheck disable=SC2034 # read by spool_dir (lib.sh)
    SPOOL_BASE_p1=$TMP/tiny
    dl_configure p1 p2
    dl_content_nodes 30
    dl_mesh_up p1 p2

    stop controller
    note "controller away: p1 fills its 64 KiB spool"
    t0=$(date +%s)
    until (($(grep -c 'spool full: dropped' "$TMP/p1.log" || true) >= 3)); do
        (($(date +%s) - t0 < 120)) || fail "p1 dropped nothing in 120 s: $(df -k "$TMP/tiny" | tail -1)"
        sleep 1
    done
    top=$(spool_top p1)
    sleep 3
    after=$(spool_top p1)
    ((after > top)) || fail "p1 stopped spooling on a full disk ($top, then $after)"
    note "p1 dropped $(dropped_in_log p1) records so far and keeps measuring ($top, then $after)"

    start_controller
    # After a minute away a probe may wait up to the 60 s cap to come back.
    wait_stored p1 "$after" 90
    wait_connected 90 p1 p2
    dropped=$(dropped_in_log p1)
    expect "the controller shows p1's $dropped dropped records" "$(http_get /api/v1/probes)" \
        "[p['delivery']['missing'] for p in d['probes'] if p['id'] == 'p1'] == [$dropped]"
    dropped=$(dropped_in_log p1)
    deliver_all --missing "p1=$dropped" --missing "p2=$(dropped_in_log p2)"
    ((dropped > 0)) || fail "no record dropped: the test proved nothing"
    note "exactly $dropped dropped, shown by the controller; nothing else missing"
}

main "$@"

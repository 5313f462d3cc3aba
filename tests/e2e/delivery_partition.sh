#!/bin/bash
# delivery.partition: nftables drops every packet between the probes and
# the controller's channel port (both ways, on the input hook, so neither
# side gets an error: the link just goes silent) for 25 s, then lets them
# through again.  Both sides must notice the silence, the probes must come
# back on their own, and nothing may be lost or doubled.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=delivery_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/delivery_lib.sh"

main() {
    local table off1 off2 line t0

    ((EUID == 0)) || dl_skip delivery.partition "needs root (nftables)"
    command -v nft >/dev/null || dl_skip delivery.partition "nft not found (Debian package nftables)"
    e2e_setup delivery.partition 23 "$1" "$2"
    table=ixmesh_partition_$$
    dl_configure p1 p2
    sed -i '/^log_level/a heartbeat = 1\nidle_timeout = 4' "$TMP/controller.ini"
    dl_mesh_up p1 p2

    off1=$(log_size p1)
    off2=$(log_size p2)
    E2E_ON_EXIT="nft delete table inet $table 2>/dev/null || true"
    nft -f - <<NFT
table inet $table {
    chain input {
        type filter hook input priority -10; policy accept;
        tcp dport $CHAN_PORT drop
        tcp sport $CHAN_PORT drop
    }
}
NFT
    note "partitioned: port $CHAN_PORT dropped both ways for 25 s"
    sleep 25
    line=$(wait_log p1 "$off1" "controller silent" 1) ||
        fail "p1 did not notice the silence: $(log_since p1 "$off1")"
    note "p1: $line"
    wait_log p2 "$off2" "controller silent" 1 >/dev/null ||
        fail "p2 did not notice the silence: $(log_since p2 "$off2")"
    nft delete table inet "$table"
    t0=$(date +%s)
    note "healed"
    wait_connected 90 p1 p2
    note "both probes back $(($(date +%s) - t0)) s after the heal"
    sleep 3
    deliver_all --windows 1
}

main "$@"

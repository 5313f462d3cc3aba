#!/bin/bash
# delivery.controller_disk: the controller's disk fills while two probes
# send.  Its store writer fails the batches it cannot write (no ACK: the
# probes keep them), the controller keeps running, and once there is room
# again every record is stored exactly once: no hole recorded where a
# failed batch was (the later batches of that connection are not stored
# either), the rollups equal the records, and the database is intact.
#
# The database lives on a 16 MiB tmpfs; a filler file takes what is left,
# for 20 s after the first failures: the probes reconnect meanwhile and
# send their backlog several batches at once, so that a failed batch has
# later ones behind it (the controller before this test recorded holes).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=delivery_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/delivery_lib.sh"

# store_errors: the batches the store failed, as the controller logged them.
store_errors() {
    grep -c 'ixmesh-controller error: store: ' "$TMP/controller.log" || true
}

main() {
    local t0 top1 top2 n

    ((EUID == 0)) || dl_skip delivery.controller_disk "needs root (mounts a tmpfs)"
    e2e_setup delivery.controller_disk 33 "$1" "$2"
    mkdir "$TMP/disk"
    mount -t tmpfs -o size=16m,mode=0755 ixmesh-ctl-disk "$TMP/disk" ||
        fail "cannot mount a tmpfs on $TMP/disk (root should be able to)"
    E2E_ON_EXIT="umount '$TMP/disk' 2>/dev/null || true"
    dl_configure p1 p2
    dl_content_nodes 20
    # The helpers read $TMP/ixmesh.db: SQLite follows the link to the file,
    # and finds its -wal and -shm files beside it.
    sed -i "s|^database = .*|database = $TMP/disk/ixmesh.db|" "$TMP/controller.ini"
    ln -s disk/ixmesh.db "$TMP/ixmesh.db"
    dl_mesh_up p1 p2

    # What is left of the disk, taken; SQLite has its -shm mapped already.
    dd if=/dev/zero of="$TMP/disk/filler" bs=64k 2>/dev/null || true
    note "disk full: $(df -k "$TMP/disk" | awk 'NR == 2 { print $4 }') KiB free"
    t0=$(date +%s)
    until (($(store_errors) >= 3)); do
        (($(date +%s) - t0 < 60)) || fail "no store failure in 60 s on a full disk"
        alive controller || fail "the controller died on a full disk"
        sleep 1
    done
    note "the store fails: $(grep -m 1 'error: store: ' "$TMP/controller.log")"
    sleep 20 # reconnects: each probe then sends its backlog, several batches at once
    alive controller || fail "the controller died on a full disk"
    top1=$(spool_top p1)
    top2=$(spool_top p2)
    rm -f "$TMP/disk/filler"
    note "room again; $(store_errors) batches failed meanwhile"
    wait_stored p1 "$top1" 90
    wait_stored p2 "$top2" 90
    ! grep 'are missing' "$TMP/controller.log" ||
        fail "a failed batch left holes taken for records the probes dropped (above)"
    n=$("$PY" -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
print(db.execute("PRAGMA integrity_check").fetchone()[0])' "$TMP/ixmesh.db")
    [[ $n == ok ]] || fail "the database is damaged: $n"
    deliver_all
    note "every record stored once, no false hole, rollups exact, database intact"
}

main "$@"

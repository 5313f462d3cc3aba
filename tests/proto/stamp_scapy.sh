#!/usr/bin/env bash
#
# stamp_scapy.sh STAMP_HEX - unauthenticated STAMP packets built by scapy
# parsed by ours, and ours parsed by scapy (and by tshark where installed),
# with the same field values; see stamp_scapy.py for what is compared.
#
# Needs Debian's python3-scapy, run with /usr/bin/python3 (not a pyenv or
# venv interpreter, which would not see the Debian package).  Without it the
# test is skipped with exit code 77, loudly, unless we are root: there
# tests/run.sh installs python3-scapy, so its absence is a failure.
set -u

hex_tool=${1:?usage: stamp_scapy.sh PATH_TO_STAMP_HEX}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3

skip() {
    echo "########################################################" >&2
    echo "## proto.stamp_scapy SKIPPED: $*" >&2
    echo "## STAMP was NOT checked against scapy" >&2
    echo "########################################################" >&2
    exit 77
}

fail() {
    echo "proto.stamp_scapy FAILED: $*" >&2
    exit 1
}

[ -x "$hex_tool" ] || fail "$hex_tool is not an executable"
if ! [ -x "$py" ] || ! "$py" -c 'import scapy.contrib.stamp' 2>/dev/null; then
    [ "${EUID:-1}" -eq 0 ] &&
        fail "python3-scapy (with scapy.contrib.stamp) is missing; tests/run.sh installs it"
    skip "python3-scapy is not installed (apt-get install python3-scapy)"
fi
exec "$py" "$here/stamp_scapy.py" "$hex_tool"

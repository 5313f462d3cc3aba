#!/bin/bash
# deps.sh - installs the Debian 12 packages ixmesh needs, and only those missing.
#
#   deploy/deps.sh build   what building and running the daemons needs
#   deploy/deps.sh test    that, plus what the tests use
#
# Nothing is touched when every package is already installed, so it is cheap
# to call before every build.  Installing needs root; without it the missing
# packages are named and the script fails.
set -euo pipefail

PROG=${0##*/}

# make and libc6-dev, and clang's sanitizer runtime, are only recommended by
# cmake, gcc and clang, so --no-install-recommends would leave them out.
BUILD_PKGS=(
    cmake make gcc libc6-dev clang pkg-config
    libuv1-dev libc-ares-dev libssl-dev libmsgpack-dev check
    libsqlite3-dev libmicrohttpd-dev libjansson-dev libinih-dev libhttp-parser-dev zlib1g-dev
    libsodium-dev
    libcap-dev
    openssl curl python3 iproute2 nginx unbound
)
# procps: pgrep in the e2e tests; libclang-rt-14-dev: build-san uses clang;
# (nginx and unbound, in the build list: the demo's content node.)
# nftables, iputils-ping: the testbed (deploy/testbed.sh).
# time: GNU time, the benchmarks' CPU and peak RSS of a whole process.
TEST_PKGS=(tshark python3-scapy fping procps libclang-rt-14-dev chromium
    nftables iputils-ping time)

usage() {
    cat <<EOF
usage: $PROG build|test|user [NAME]

Installs the missing Debian packages with apt-get (needs root).
  build   ${BUILD_PKGS[*]}
  test    the build list plus ${TEST_PKGS[*]},
          and (as root) the user the daemons become, $DAEMON_USER
  user    only makes the system user NAME (default $DAEMON_USER) when missing:
          the daemons, started as root, switch to it (their user = key)
EOF
}

die() {
    echo "$PROG: $*" >&2
    exit 1
}

# The user the daemons become when started as root (user = in their ini).
DAEMON_USER=ixmesh

# ensure_user NAME: makes the system user NAME when missing (needs root).
ensure_user() {
    getent passwd "$1" >/dev/null && return 0
    ((EUID == 0)) || die "user '$1' does not exist; as root: useradd --system --no-create-home --shell /usr/sbin/nologin $1"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1" ||
        die "cannot create the user $1"
    echo "$PROG: created the system user $1"
}

# missing PKG...: prints the packages that are not installed.
missing() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [[ $status == installed ]] || echo "$p"
    done
}

install() {
    local -a todo=("$@")

    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no, unasked.
    if printf '%s\n' "${todo[@]}" | grep -qx tshark; then
        echo "wireshark-common wireshark-common/install-setuid boolean false" |
            debconf-set-selections || die "debconf-set-selections failed"
    fi
    echo "$PROG: installing ${todo[*]}"
    apt-get update -q || die "apt-get update failed"
    # nginx and unbound would start as system services on the host; the
    # testbed runs its own, in its namespaces.  policy-rc.d (exit 101) tells
    # the packages' scripts not to start anything.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    local rc=0
    apt-get install -y -q --no-install-recommends "${todo[@]}" || rc=$?
    ((made_policy)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get install failed for: ${todo[*]}"
}

main() {
    local -a want todo

    case ${1:-} in
    build) want=("${BUILD_PKGS[@]}") ;;
    test) want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
    user)
        ensure_user "${2:-$DAEMON_USER}"
        return 0
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    command -v dpkg-query >/dev/null || die "dpkg-query not found: this script is for Debian 12"
    # The tests start the daemons as root: they switch to this user.
    if [[ $1 == test ]] && ((EUID == 0)); then ensure_user "$DAEMON_USER"; fi

    mapfile -t todo < <(missing "${want[@]}")
    if ((${#todo[@]} == 0)); then
        echo "$PROG: all $1 dependencies are installed"
        return 0
    fi
    if ((EUID != 0)); then
        die "missing packages: ${todo[*]}
run as root (sudo $0 $1) or: sudo apt-get install --no-install-recommends ${todo[*]}"
    fi
    install "${todo[@]}"
    mapfile -t todo < <(missing "${want[@]}")
    ((${#todo[@]} == 0)) || die "still missing after install: ${todo[*]}"
    echo "$PROG: $1 dependencies installed"
}

main "$@"

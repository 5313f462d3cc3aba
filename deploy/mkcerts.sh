#!/bin/bash
# mkcerts.sh - a throwaway certificate authority for an ixmesh demo or test.
#
# Makes, with the openssl command line only:
#   DIR/ca.pem, DIR/ca.key                  the CA (EC P-256, ten years)
#   DIR/controller.pem, DIR/controller.key  CN=ixmesh-controller, serverAuth,
#                                           subjectAltName IP:127.0.0.1, IP:::1,
#                                           DNS:localhost (plus any --san)
#   DIR/ID.pem, DIR/ID.key                  one client certificate per probe,
#                                           CN=ID, clientAuth
# With --rogue ID it also makes DIR/rogue-ca.pem and DIR/ID.pem signed by that
# second CA, which the controller must refuse (bad-input tests).
#
# Running it again keeps the CA and every certificate that still verifies
# against it, so it can be called before every demo start.
set -euo pipefail

PROG=${0##*/}
DAYS=3650

usage() {
    cat <<EOF
usage: $PROG [--rogue ID]... [--san SAN]... DIR [ID...]

Makes a throwaway CA in DIR and, signed by it, the controller's certificate
and one client certificate per probe ID (CN = ID).

  --rogue ID   also make DIR/ID.pem signed by a different CA (DIR/rogue-ca.pem)
  --san SAN    extra subjectAltName for the controller, e.g. IP:192.0.2.1 or
               DNS:mesh.example.net (repeatable)
  -h, --help   this text

Probe ids match [A-Za-z0-9._-]{1,64}.  "ca", "rogue-ca" and "controller" are
reserved file names.
EOF
}

die() {
    echo "$PROG: $*" >&2
    exit 1
}

# check_id ID: refuses ids the daemons would refuse, and the reserved names.
check_id() {
    [[ $1 =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "bad probe id '$1' (want [A-Za-z0-9._-]{1,64})"
    case $1 in
    ca | rogue-ca | controller) die "probe id '$1' is a reserved file name" ;;
    esac
}

# new_key FILE: a fresh EC P-256 private key, readable by its owner only.
new_key() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null) || die "openssl genpkey failed for $1"
}

# serial: a random positive 127-bit serial number in hex.
serial() {
    local s
    s=$(openssl rand -hex 16)
    printf '0x%x%s' $((0x${s:0:1} & 7)) "${s:1}"
}

# make_ca NAME CN: DIR/NAME.pem and DIR/NAME.key, a self-signed CA.
make_ca() {
    local name=$1 cn=$2 cnf
    cnf="$WORK/$name.cnf"
    cat >"$cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = $cn
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    new_key "$DIR/$name.key"
    openssl req -new -x509 -config "$cnf" -key "$DIR/$name.key" -sha256 \
        -days "$DAYS" -set_serial "$(serial)" -out "$DIR/$name.pem" 2>"$WORK/err" ||
        die "cannot make CA $name: $(cat "$WORK/err")"
    echo "$PROG: made $DIR/$name.pem"
}

# make_leaf CA NAME CN USAGE [SAN]: DIR/NAME.pem and .key signed by DIR/CA.pem.
make_leaf() {
    local ca=$1 name=$2 cn=$3 eku=$4 san=${5:-} ext
    ext="$WORK/$name.ext"
    {
        echo "basicConstraints = critical, CA:FALSE"
        echo "keyUsage = critical, digitalSignature"
        echo "extendedKeyUsage = $eku"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid"
        if [[ -n $san ]]; then echo "subjectAltName = $san"; fi
    } >"$ext"
    new_key "$DIR/$name.key"
    openssl req -new -key "$DIR/$name.key" -subj "/CN=$cn" -out "$WORK/$name.csr" \
        2>"$WORK/err" || die "cannot make request for $name: $(cat "$WORK/err")"
    openssl x509 -req -in "$WORK/$name.csr" -CA "$DIR/$ca.pem" -CAkey "$DIR/$ca.key" \
        -set_serial "$(serial)" -days "$DAYS" -sha256 -extfile "$ext" \
        -out "$DIR/$name.pem" 2>"$WORK/err" ||
        die "cannot sign $name: $(cat "$WORK/err")"
    echo "$PROG: made $DIR/$name.pem ($cn, signed by $ca)"
}

# still_good NAME: true when DIR/NAME.pem and its key exist and the
# certificate verifies against DIR/ca.pem for a while yet.
still_good() {
    [[ -s $DIR/$1.pem && -s $DIR/$1.key ]] &&
        openssl verify -CAfile "$DIR/ca.pem" "$DIR/$1.pem" >/dev/null 2>&1 &&
        openssl x509 -in "$DIR/$1.pem" -noout -checkend 86400 >/dev/null 2>&1
}

main() {
    local -a ids=() rogues=() sans=()
    local id san

    DIR=
    while (($#)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --rogue)
            (($# >= 2)) || die "--rogue needs a probe id"
            rogues+=("$2")
            shift 2
            ;;
        --san)
            (($# >= 2)) || die "--san needs a value such as IP:192.0.2.1"
            sans+=("$2")
            shift 2
            ;;
        -*) die "unknown option $1 (try --help)" ;;
        *)
            if [[ -z $DIR ]]; then DIR=$1; else ids+=("$1"); fi
            shift
            ;;
        esac
    done
    [[ -n $DIR ]] || {
        usage >&2
        exit 2
    }
    command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
    for id in "${ids[@]}" "${rogues[@]}"; do check_id "$id"; done

    mkdir -p "$DIR" || die "cannot create $DIR"
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT

    if [[ ! -s $DIR/ca.pem || ! -s $DIR/ca.key ]] ||
        ! openssl x509 -in "$DIR/ca.pem" -noout -checkend 86400 >/dev/null 2>&1; then
        make_ca ca "ixmesh throwaway CA"
    fi

    san="IP:127.0.0.1, IP:::1, DNS:localhost"
    for id in "${sans[@]}"; do san+=", $id"; done
    # A controller certificate made for other names is remade; the names it
    # was made for are kept next to it.
    if ! still_good controller || [[ $(cat "$DIR/controller.san" 2>/dev/null) != "$san" ]]; then
        make_leaf ca controller ixmesh-controller serverAuth "$san"
        echo "$san" >"$DIR/controller.san"
    fi

    for id in "${ids[@]}"; do
        still_good "$id" || make_leaf ca "$id" "$id" clientAuth
    done

    if ((${#rogues[@]})); then
        [[ -s $DIR/rogue-ca.pem && -s $DIR/rogue-ca.key ]] ||
            make_ca rogue-ca "ixmesh rogue CA"
        for id in "${rogues[@]}"; do
            make_leaf rogue-ca "$id" "$id" clientAuth
        done
    fi
}

main "$@"

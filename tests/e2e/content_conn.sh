#!/bin/bash
# e2e.content_conn: the tcp, tls and http methods against a real nginx on
# loopback (IPv4 and IPv6), with a certificate for content.ixmesh.test from
# the test's own CA, through `ixmesh-probe measure ... --json`:
#   tcp: OK to an open port, refused on a closed one, unreachable and a
#        connect timeout inside network namespaces the test makes;
#   tls: OK with --ca-file (version, cipher, expiry, verify ok), a
#        verification failure without it and with a wrong name;
#   http: 200 with X-Cache HIT and the body's length, 503 as http_5xx,
#        https GET, and IPv6 with the address as Host.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS_UNREACH=
NS_DROP=
BODY='hello from the content node'

# The namespaces go with the test, whatever happens to it.
cleanup_ns() {
    [[ -n $NS_UNREACH ]] && ip netns del "$NS_UNREACH" 2>/dev/null
    [[ -n $NS_DROP ]] && ip netns del "$NS_DROP" 2>/dev/null
    e2e_cleanup
}

# measure ARGS...: the probe's JSON line for one target (failures included:
# the command's status only says whether anything answered).
measure() {
    "$PROBE_BIN" measure "$@" --count 2 --interval 100 --json 2>>"$TMP/measure.err" || true
}

write_nginx() {
    local user=
    ((EUID == 0)) && user='user root;'
    mkdir -p "$TMP/nginx/tmp"
    cat >"$TMP/nginx/nginx.conf" <<EOF
$user
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log info;
events { worker_connections 64; }
http {
    access_log $TMP/nginx/access.log;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        listen [::1]:$HTTP_PORT;
        listen 127.0.0.1:$TLS_PORT ssl;
        listen [::1]:$TLS_PORT ssl;
        server_name content.ixmesh.test;
        ssl_certificate $TMP/pki/controller.pem;
        ssl_certificate_key $TMP/pki/controller.key;
        location = / {
            default_type text/plain;
            add_header X-Cache HIT always;
            return 200 "$BODY";
        }
        # nginx says "Service Temporarily Unavailable" for 503.
        location = /error {
            return 503;
        }
    }
}
EOF
    printf '#!/bin/sh\nexec nginx -c %q -p %q -g "daemon off;"\n' \
        "$TMP/nginx/nginx.conf" "$TMP/nginx" >"$TMP/nginx.sh"
    chmod +x "$TMP/nginx.sh"
}

start_nginx() {
    local i
    : >"$TMP/none.ini"
    spawn nginx "$TMP/nginx.sh" "$TMP/none.ini"
    for ((i = 0; i < 50; i++)); do
        port_free tcp "$TLS_PORT" || return 0
        alive nginx || fail "nginx exited at start: $(cat "$TMP/nginx/error.log" 2>/dev/null)"
        sleep 0.1
    done
    fail "nginx did not listen on $TLS_PORT within 5 s"
}

main() {
    local j expiry
    e2e_setup content_conn 18 "$1" "$2"
    if ((EUID != 0)); then
        echo "SKIP [content_conn]: needs root for network namespaces -- NOT RUN" >&2
        exit 77
    fi
    command -v nginx >/dev/null || fail "nginx is needed"
    command -v nft >/dev/null || fail "nft is needed"
    trap cleanup_ns EXIT
    TLS_PORT=$CHAN_PORT   # no controller here: its port is ours
    CLOSED_PORT=$STAMP_PORT # nothing listens on TCP there
    port_free tcp "$CLOSED_PORT" || fail "TCP port $CLOSED_PORT is in use"
    # The server certificate names content.ixmesh.test, 127.0.0.1 and ::1.
    make_certs --san DNS:content.ixmesh.test
    write_nginx
    start_nginx
    local ca=$TMP/pki/ca.pem name=content.ixmesh.test

    # ---- tcp
    j=$(measure tcp "127.0.0.1:$HTTP_PORT")
    expect "tcp open" "$j" 'd["received"] == 2 and 0 < d["rtt_p50_ms"] < 100 and d["phases_ms"]["connect"] > 0'
    j=$(measure tcp "[::1]:$HTTP_PORT")
    expect "tcp open over IPv6" "$j" 'd["received"] == 2 and d["addr"] == "::1"'
    j=$(measure tcp "127.0.0.1:$CLOSED_PORT")
    expect "tcp closed port" "$j" 'd["received"] == 0 and d["outcomes"] == {"refused": 2} and "refused" in d["why"]'

    # ---- tls
    j=$(measure tls "$name:$TLS_PORT" --connect 127.0.0.1 --ca-file "$ca")
    expect "tls with the CA" "$j" 'd["received"] == 2 and d["verify"] == "ok" and d["tls_version"] in ("TLSv1.2", "TLSv1.3") and d["tls_cipher"] and d["phases_ms"]["tls"] > 0 and d["phases_ms"]["connect"] > 0'
    # mkcerts.sh gives ten years; the leaf's notAfter is what we read.
    expiry=$(openssl x509 -in "$TMP/pki/controller.pem" -noout -enddate | sed 's/notAfter=//')
    expiry=$(date -u -d "$expiry" +%Y-%m-%dT%H:%M:%SZ)
    expect "tls certificate expiry" "$j" "d['cert_not_after'] == '$expiry'"
    j=$(measure tls "[::1]:$TLS_PORT" --ca-file "$ca")
    expect "tls to the IPv6 address" "$j" 'd["received"] == 2 and d["verify"] == "ok"'
    j=$(measure tls "$name:$TLS_PORT" --connect 127.0.0.1)
    expect "tls without the CA" "$j" 'd["received"] == 0 and d["outcomes"] == {"tls_verify": 2} and d["why"] == "certificate verify failed: unable to get local issuer certificate"'
    j=$(measure tls "wrong.ixmesh.test:$TLS_PORT" --connect 127.0.0.1 --ca-file "$ca")
    expect "tls with a wrong name" "$j" 'd["outcomes"] == {"tls_verify": 2} and "hostname mismatch" in d["why"]'
    j=$(measure tls "127.0.0.1:$HTTP_PORT" --ca-file "$ca")
    expect "tls to a plain HTTP port" "$j" 'd["outcomes"] == {"tls": 2}'

    # ---- http
    j=$(measure http "http://$name:$HTTP_PORT/" --connect 127.0.0.1 --header X-Cache)
    expect "http 200" "$j" "d['received'] == 2 and d['http_status'] == 200 and d['header'] == {'name': 'X-Cache', 'value': 'HIT'} and d['http_bytes'] == ${#BODY} and all(d['phases_ms'][k] > 0 for k in ('connect', 'ttfb', 'total'))"
    j=$(measure http "http://$name:$HTTP_PORT/error" --connect 127.0.0.1)
    expect "http 503" "$j" 'd["received"] == 0 and d["outcomes"] == {"http_5xx": 2} and d["why"] == "HTTP 503 Service Temporarily Unavailable" and d["http_status"] == 503'
    j=$(measure http "https://$name:$TLS_PORT/" --connect ::1 --ca-file "$ca" --header x-cache)
    expect "https 200" "$j" "d['received'] == 2 and d['http_status'] == 200 and d['header']['value'] == 'HIT' and d['verify'] == 'ok' and d['phases_ms']['tls'] > 0 and d['http_bytes'] == ${#BODY}"
    j=$(measure http "http://[::1]:$HTTP_PORT/")
    expect "http to the IPv6 address" "$j" 'd["received"] == 2 and d["http_status"] == 200'
    grep -q "\"GET / HTTP/1.1\" 200 .*\"ixmesh-probe/" "$TMP/nginx/access.log" ||
        fail "nginx did not log our GET with our User-Agent"

    # ---- no route: a namespace with only lo up
    NS_UNREACH=ixm-unreach-$$
    ip netns add "$NS_UNREACH"
    ip -n "$NS_UNREACH" link set lo up
    j=$(ip netns exec "$NS_UNREACH" "$PROBE_BIN" measure tcp 198.18.202.1:80 --count 1 --json 2>>"$TMP/measure.err" || true)
    expect "tcp unreachable" "$j" 'd["outcomes"] == {"unreachable": 1}'

    # ---- a SYN dropped on input: the connect phase times out
    NS_DROP=ixm-drop-$$
    ip netns add "$NS_DROP"
    ip -n "$NS_DROP" link set lo up
    ip -n "$NS_DROP" addr add 198.18.203.1/32 dev lo
    ip netns exec "$NS_DROP" nft -f - <<'EOF'
table inet ixmesh_drop {
    chain input {
        type filter hook input priority 0;
        tcp dport 80 drop
    }
}
EOF
    j=$(ip netns exec "$NS_DROP" "$PROBE_BIN" measure tcp 198.18.203.1:80 --count 1 --timeout 400 --json 2>>"$TMP/measure.err" || true)
    expect "tcp timeout" "$j" 'd["outcomes"] == {"timeout": 1} and d["why"] == "connect timed out after 400 ms"'

    stop nginx
}

main "$@"

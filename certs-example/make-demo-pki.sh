#!/bin/sh
# Makes the demo PKI for Gatehouse with `gatehouse cert` (no other tool needed).
#
# Usage: certs-example/make-demo-pki.sh GATEHOUSE_BIN [DIR]
#   GATEHOUSE_BIN  the built gatehouse binary, e.g. .build/debug/gatehouse
#   DIR            where to write (default: the directory of this script)
#
# Idempotent: each certificate is made only when its .pem or .key is missing or it expires within
# 30 days, so running it again changes nothing. The file names below are a contract (configs and the Makefile use them).
# Keys are never committed: .gitignore ignores *.key and certs-example/*.pem.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 GATEHOUSE_BIN [DIR]" >&2
    exit 2
fi
GATEHOUSE=$1
if [ ! -x "$GATEHOUSE" ]; then
    echo "$0: $GATEHOUSE is not an executable gatehouse binary (run swift build first)" >&2
    exit 2
fi
DIR=${2:-$(cd "$(dirname "$0")" && pwd)}
mkdir -p "$DIR"

# made NAME: true when both NAME.pem and NAME.key exist and the certificate is not expired or
# about to expire (less than 30 days left: `gatehouse cert list` says ExpiresSoon). An expiring
# certificate and its key are removed, so the line that uses `made` issues a fresh one.
made() {
    [ -f "$DIR/$1.pem" ] && [ -f "$DIR/$1.key" ] || return 1
    if "$GATEHOUSE" cert list "$DIR/$1.pem" --format json 2>/dev/null | grep -q '"Status" : "Valid"'; then
        return 0
    fi
    echo "$DIR/$1.pem expires within 30 days or has expired: issuing a new one"
    rm -f "$DIR/$1.pem" "$DIR/$1.key"
    return 1
}

# A half-made pair (one file without the other) is an error, not something to paper over.
for name in ca mail-rsa mail-ecdsa wildcard mbx01 mbx02 contoso-com-rsa contoso-com-ecdsa exch01 exch02; do
    if { [ -f "$DIR/$name.pem" ] && [ ! -f "$DIR/$name.key" ]; } || { [ ! -f "$DIR/$name.pem" ] && [ -f "$DIR/$name.key" ]; }; then
        echo "$0: $DIR/$name.pem and $DIR/$name.key must both exist or both be absent; remove the other one" >&2
        exit 1
    fi
done

# The lab root CA; every demo leaf except the Exchange-style back-end ones is issued by it.
made ca || "$GATEHOUSE" cert new-self-signed --ca --name ca --subject "CN=Contoso Lab Root CA" --out "$DIR"

# The public names clients use (RSA and ECDSA side by side, as Exchange front ends serve them).
made mail-rsa || "$GATEHOUSE" cert issue --ca "$DIR" --name mail-rsa --key rsa2048 \
    --dns mail.contoso.lab --dns autodiscover.contoso.lab --out "$DIR"
made mail-ecdsa || "$GATEHOUSE" cert issue --ca "$DIR" --name mail-ecdsa --key p256 \
    --dns mail.contoso.lab --dns autodiscover.contoso.lab --out "$DIR"
made wildcard || "$GATEHOUSE" cert issue --ca "$DIR" --name wildcard --key rsa2048 \
    --dns '*.contoso.lab' --out "$DIR"

# Exchange's default self-signed back-end certificates (what mailbox servers present on :444).
made mbx01 || "$GATEHOUSE" cert new-self-signed --name mbx01 --fqdn mbx01.contoso.lab --out "$DIR"
made mbx02 || "$GATEHOUSE" cert new-self-signed --name mbx02 --fqdn mbx02.contoso.lab --out "$DIR"

# conf/exchange-example.yaml's names (contoso.com front end, EXCH01/EXCH02 back ends), so that
# example passes `gatehouse check` too. Same CA; in production these are your real certificates.
made contoso-com-rsa || "$GATEHOUSE" cert issue --ca "$DIR" --name contoso-com-rsa --key rsa2048 \
    --dns mail.contoso.com --dns autodiscover.contoso.com --out "$DIR"
made contoso-com-ecdsa || "$GATEHOUSE" cert issue --ca "$DIR" --name contoso-com-ecdsa --key p256 \
    --dns mail.contoso.com --dns autodiscover.contoso.com --out "$DIR"
made exch01 || "$GATEHOUSE" cert new-self-signed --name exch01 --fqdn exch01.contoso.local --out "$DIR"
made exch02 || "$GATEHOUSE" cert new-self-signed --name exch02 --fqdn exch02.contoso.local --out "$DIR"

echo "demo PKI ready in $DIR"

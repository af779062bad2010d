#!/bin/bash
# switchyard-healthcheck [PATH]: exit 0 when http://127.0.0.1:$SWITCHYARD_HTTP_PORT/PATH answers
# 200, 1 otherwise. PATH defaults to /healthz (/readyz for readiness). Uses bash's /dev/tcp, so the
# runtime image needs no curl. The switch answers one request per connection and closes it.
set -u
path="${1:-/healthz}"
port="${SWITCHYARD_HTTP_PORT:-9090}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET %s HTTP/1.0\r\n\r\n' "$path" >&3
IFS= read -r -t 2 status <&3 || exit 1
exec 3<&-
case "$status" in
  "HTTP/1."[01]" 200 "*) exit 0 ;;
  *) echo "switchyard-healthcheck: ${path}: ${status%$'\r'}" >&2; exit 1 ;;
esac

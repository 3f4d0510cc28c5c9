#!/usr/bin/env bash
# Install the Debian packages that the tests run for real. Safe to run again; a no-op when present.
set -euo pipefail
packages=(haproxy nginx-light libnginx-mod-http-lua nghttp2-proxy redsocks tinyproxy stunnel4 wrk nftables
          iproute2 openssl procps chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system-deps: need root and apt-get to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# The one place that knows Debian package names: installs what pcdn needs when missing.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libdpdk-dev dpdk dpdk-dev
  liburcu-dev libconfig-dev libcunit1-dev libssl-dev openssl
  libjansson-dev libevent-dev libxml2-dev libedit-dev
  iproute2 iputils-ping tshark python3
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | "${sudo_cmd[@]}" debconf-set-selections || true
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

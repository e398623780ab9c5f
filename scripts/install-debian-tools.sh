#!/usr/bin/env bash
# Installs the Debian packages leapp's tests (or, with --sample, the sample guest build) need,
# from the pinned list in scripts/debian-tools.txt. Idempotent: with everything present it only
# asks dpkg and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--sample" ]; then
  wanted=(e2fsprogs fdisk util-linux rpm db5.3-util cpio gcc)
else
  mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/debian-tools.txt)
fi

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-debian-tools: missing Debian packages: ${missing[*]}" >&2
  echo "install-debian-tools: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "install-debian-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package lists older than a day (or none at all, as on a fresh machine) are refreshed first.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  apt-get update -qq >&2
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

#!/usr/bin/env bash
# Install a kit on Raspberry Pi OS (64-bit), as docs/raspberry-pi.md describes step by step:
# Debian packages, a virtual environment under PREFIX installed from the lock (hash-checked)
# or from an offline bundle (scripts/offline-bundle.sh), swap off, optionally a Wi-Fi access
# point, and the systemd unit (fieldkit service install). Run as root from a checkout of
# fieldkit (for the lock and the project), or with --bundle from anywhere.
#
#   sudo bash scripts/install-pi.sh [--prefix DIR] [--data DIR] [--account NAME] [--bundle DIR]
#        [--wifi-ssid NAME --wifi-password-file FILE] [--no-apt] [--dry-run]
#
# --no-apt: the Debian packages are installed already (on a Pi with no network, from
# .deb files brought on a stick: docs/raspberry-pi.md).
# --dry-run prints every change to the system (apt-get, useradd, systemctl, nmcli, swap)
# instead of making it; the virtual environment under PREFIX is really made, so the dry
# run shows the installed fieldkit works and prints the unit it would write.
set -euo pipefail
usage="usage: scripts/install-pi.sh [--prefix DIR] [--data DIR] [--account NAME] [--bundle DIR]
       [--wifi-ssid NAME --wifi-password-file FILE] [--no-apt] [--dry-run]"
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/fieldkit
data=/var/lib/fieldkit
account=fieldkit
bundle=""
ssid=""
password_file=""
dry_run=0
apt=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
        --data) data=${2:?--data needs a folder}; shift 2 ;;
        --account) account=${2:?--account needs an account name}; shift 2 ;;
        --bundle) bundle=${2:?--bundle needs the folder scripts/offline-bundle.sh made}; shift 2 ;;
        --wifi-ssid) ssid=${2:?--wifi-ssid needs a network name}; shift 2 ;;
        --wifi-password-file) password_file=${2:?--wifi-password-file needs a file}; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --no-apt) apt=0; shift ;;
        -h|--help) echo "$usage"; exit 0 ;;
        *) echo "unknown argument $1" >&2; echo "$usage" >&2; exit 2 ;;
    esac
done

fail() { echo "install-pi: $*" >&2; exit 2; }
case "$prefix" in /*) ;; *) fail "--prefix must be an absolute path, not $prefix" ;; esac
case "$data" in /*) ;; *) fail "--data must be an absolute path, not $data" ;; esac
case "$prefix/" in "$data"/*) fail "--prefix $prefix must not be inside --data $data (the kit's account owns that)" ;; esac
case "$data/" in "$prefix"/*) fail "--data $data must not be inside --prefix $prefix (the programs stay read-only)" ;; esac
if { [ -n "$ssid" ] && [ -z "$password_file" ]; } || { [ -z "$ssid" ] && [ -n "$password_file" ]; }; then
    fail "--wifi-ssid and --wifi-password-file go together: give both for an access point, or neither"
fi
psk=""
if [ -n "$password_file" ]; then
    [ -r "$password_file" ] || fail "--wifi-password-file $password_file cannot be read"
    psk=$(head -n 1 "$password_file")
    [ ${#psk} -ge 8 ] && [ ${#psk} -le 63 ] || fail "the Wi-Fi password must be 8 to 63 characters (WPA2/WPA3)"
    [ ${#ssid} -le 32 ] || fail "--wifi-ssid must be at most 32 bytes"
fi
if [ -n "$bundle" ]; then
    [ -d "$bundle" ] || fail "--bundle $bundle is not a folder"
    # The folder offline-bundle.sh made, or its folder for this machine.
    if [ -d "$bundle/$(uname -m)" ]; then bundle="$bundle/$(uname -m)"; fi
    ls "$bundle"/fieldkit-*.whl >/dev/null 2>&1 && [ -f "$bundle/runtime.lock" ] \
        || fail "--bundle $bundle holds no fieldkit wheel and runtime.lock: give the folder scripts/offline-bundle.sh made"
else
    [ -f "$root/requirements/runtime.lock" ] || fail "no requirements/runtime.lock next to this script: run it from a checkout, or use --bundle"
fi
if [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    fail "installing needs root: run it with sudo, or see every step with --dry-run"
fi

# Every change to the system goes through system: printed in a dry run, run otherwise.
system() {
    local shown
    shown=$(printf '%q ' "$@")
    if [ "$dry_run" -eq 1 ]; then echo "would run: ${shown% }"; else echo "running: ${shown% }"; "$@"; fi
}

packages=(python3 python3-venv age network-manager)
if [ "$apt" -eq 1 ]; then
    echo "== 1. Debian packages"
    system apt-get update
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
else
    echo "== 1. Debian packages: not installed (--no-apt); they must be there already: ${packages[*]}"
fi

echo "== 2. fieldkit in $prefix/venv"
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
    [ "$dry_run" -eq 1 ] && fail "no $python here: a dry run cannot install it (the real run installs python3 first)"
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "fieldkit needs Python 3.11 or newer"
mkdir -p "$prefix"
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
pip=("$prefix/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ -n "$bundle" ]; then
    echo "from the offline bundle $bundle (no network used)"
    "${pip[@]}" --no-index --find-links "$bundle" --require-hashes -r "$bundle/runtime.lock"
    "${pip[@]}" --no-index --no-deps "$bundle"/fieldkit-*.whl
else
    echo "from requirements/runtime.lock (hash-checked)"
    "${pip[@]}" --require-hashes -r "$root/requirements/runtime.lock"
    # The build backend came from the lock: nothing else is fetched for the project itself.
    "${pip[@]}" --no-deps --no-build-isolation "$root"
fi
fieldkit="$prefix/venv/bin/fieldkit"
"$fieldkit" --version

echo "== 3. swap off: memory holding the keys must never be written to the SD card"
if command -v dphys-swapfile >/dev/null 2>&1 || [ "$dry_run" -eq 1 ]; then
    system dphys-swapfile swapoff
    system dphys-swapfile uninstall
    system systemctl disable --now dphys-swapfile.service
else
    echo "dphys-swapfile is not installed: nothing to turn off"
fi
system swapoff --all

if [ -n "$ssid" ]; then
    echo "== 4. Wi-Fi access point $ssid on wlan0 (NetworkManager)"
    show_psk=$psk
    [ "$dry_run" -eq 1 ] && show_psk="(the password from $password_file)"
    if [ "$dry_run" -eq 1 ]; then
        echo "would run: nmcli con add type wifi ifname wlan0 con-name fieldkit-ap autoconnect yes ssid $(printf '%q' "$ssid") mode ap 802-11-wireless.band bg ipv4.method shared wifi-sec.key-mgmt wpa-psk wifi-sec.proto rsn wifi-sec.pairwise ccmp wifi-sec.group ccmp wifi-sec.psk $show_psk"
        echo "would run: nmcli con up fieldkit-ap"
    else
        nmcli con add type wifi ifname wlan0 con-name fieldkit-ap autoconnect yes ssid "$ssid" mode ap \
            802-11-wireless.band bg ipv4.method shared wifi-sec.key-mgmt wpa-psk wifi-sec.proto rsn \
            wifi-sec.pairwise ccmp wifi-sec.group ccmp wifi-sec.psk "$psk" >/dev/null
        echo "added the NetworkManager connection fieldkit-ap"
        nmcli con up fieldkit-ap
    fi
else
    echo "== 4. no Wi-Fi access point (--wifi-ssid not given)"
fi

echo "== 5. the systemd unit"
service=("$fieldkit" service install --data "$data" --account "$account")
if [ "$dry_run" -eq 1 ]; then
    "${service[@]}" --dry-run
else
    "${service[@]}"
fi
echo "== done. Next (docs/raspberry-pi.md): make the kit as $account if $data holds none:"
echo "   sudo -u $account $fieldkit init --data $data ...   then: sudo systemctl start fieldkit.service"
[ "$dry_run" -eq 1 ] && echo "nothing was changed on the system (--dry-run); $prefix/venv was made"
exit 0

#!/usr/bin/env bash
# Make an offline bundle: a folder of wheels, from requirements/runtime.lock, that installs
# fieldkit where there is no network at all (docs/raspberry-pi.md, docs/deployment.md).
#
#   bash scripts/offline-bundle.sh OUT [--platform x86_64|aarch64|all] [--python-version 3.11]
#
# OUT/PLATFORM/ gets one wheel per locked package, built for manylinux on that platform
# and checked against the lock's hashes, the project's own wheel, the lock itself and
# SHA256SUMS; OUT/README.txt says how to install. Only wheels are taken
# (--only-binary=:all:): a package published only as source would need a compiler on
# the kit, so the script stops and names it instead.
set -euo pipefail
usage="usage: scripts/offline-bundle.sh OUT [--platform x86_64|aarch64|all] [--python-version X.Y]"
root=$(cd "$(dirname "$0")/.." && pwd)
out=""
platform=all
python_version=3.11
while [ $# -gt 0 ]; do
    case "$1" in
        --platform) platform=${2:?--platform needs x86_64, aarch64 or all}; shift 2 ;;
        --python-version) python_version=${2:?--python-version needs a version like 3.11}; shift 2 ;;
        -h|--help) echo "$usage"; exit 0 ;;
        -*) echo "unknown option $1; $usage" >&2; exit 2 ;;
        *) [ -z "$out" ] || { echo "one OUT folder only; $usage" >&2; exit 2; }; out=$1; shift ;;
    esac
done
[ -n "$out" ] || { echo "$usage" >&2; exit 2; }
case "$platform" in
    x86_64|aarch64) platforms=("$platform") ;;
    all) platforms=(x86_64 aarch64) ;;
    *) echo "--platform $platform: use x86_64, aarch64 or all" >&2; exit 2 ;;
esac
[[ "$python_version" =~ ^3\.[0-9]+$ ]] || { echo "--python-version $python_version: use a version like 3.11" >&2; exit 2; }
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "$out exists and is not empty: give a new folder, so no old wheel is mixed in" >&2
    exit 2
fi
lock="$root/requirements/runtime.lock"
abi="cp${python_version/./}"

# The project's wheel is built by the repository's own environment, offline: hatchling
# comes from the lock (scripts/install.sh runtime puts it there).
python=${PYTHON:-$root/.venv/bin/python}
if ! "$python" -c 'import hatchling' 2>/dev/null; then
    bash "$root/scripts/install.sh" runtime
    python=$root/.venv/bin/python
fi
pip=("$python" -m pip --disable-pip-version-check)
mkdir -p "$out"
out=$(cd "$out" && pwd)
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
"${pip[@]}" wheel --quiet --no-deps --no-build-isolation --wheel-dir "$project" "$root"

for arch in "${platforms[@]}"; do
    dest="$out/$arch"
    mkdir -p "$dest"
    echo "Downloading the wheels of $lock for manylinux $arch, CPython $python_version ..."
    if ! "${pip[@]}" download --quiet --dest "$dest" --only-binary=:all: --require-hashes \
        --platform "manylinux2014_$arch" --platform "manylinux_2_28_$arch" \
        --python-version "$python_version" --implementation cp --abi "$abi" --abi abi3 --abi none \
        -r "$lock"; then
        echo "FAILED: pip found no wheel for $arch (CPython $python_version) of a package above, or one whose" >&2
        echo "hash is not in the lock. A package published only as source must be built into a wheel on a" >&2
        echo "$arch machine (pip wheel NAME==VERSION) and its hash added to the lock (bash scripts/lock.sh);" >&2
        echo "the bundle in $out is incomplete: delete it." >&2
        exit 1
    fi
    cp "$project"/fieldkit-*.whl "$dest/"
    cp "$lock" "$dest/runtime.lock"
    (cd "$dest" && sha256sum -- *.whl runtime.lock > SHA256SUMS)
    echo "  $dest: $(find "$dest" -name '*.whl' | wc -l) wheels"
done

wheel=$(basename "$project"/fieldkit-*.whl)
cat > "$out/README.txt" <<EOF
fieldkit offline bundle: every wheel fieldkit needs, for Linux (manylinux) on ${platforms[*]},
CPython $python_version, made from requirements/runtime.lock. No network is needed to install it.

Into a new virtual environment (python3 -m venv VENV), on a machine of the folder's platform:

    VENV/bin/pip install --no-index --find-links DIR fieldkit

where DIR is this folder's x86_64 or aarch64 folder. To check every file against the lock's
hashes, as scripts/install-pi.sh --bundle DIR does:

    VENV/bin/pip install --no-index --find-links DIR --require-hashes -r DIR/runtime.lock
    VENV/bin/pip install --no-index --no-deps DIR/$wheel

SHA256SUMS in each folder lists every file's hash: 'sha256sum -c SHA256SUMS' checks a copy.
EOF
echo "wrote $out (README.txt says how to install)"

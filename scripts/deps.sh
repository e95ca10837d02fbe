#!/bin/sh
# Install the Debian packages the build and tests need, only when missing.
# A no-op (one dpkg-query) when everything is present. Needs root or sudo
# only when something is missing. Run by `make deps`, which `make test` and
# `make demo` call first; never as a side effect of parsing the Makefile.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev
libssl-dev libprotobuf-c-dev protobuf-c-compiler libsodium-dev
libcap-ng-dev libcmocka-dev libjansson-dev libmicrohttpd-dev libonnx-testdata python3 python3-onnx
python3-numpy python3-cffi python3-pytest python3-venv python3-pip python3-setuptools
python3-cryptography python3-cbor2 python3-jsonschema python3-hypothesis pmccabe
clang-format git libsqlite3-dev libhiredis-dev libmicrohttpd-dev redis-server
cpio strace openssl"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: missing packages and neither root nor sudo:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2

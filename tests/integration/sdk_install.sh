#!/usr/bin/env bash
# libeml as a user gets it: `make install DESTDIR=...`, then a program
# compiled against the installed header with pkg-config only, linked both
# against libeml.so and statically against libeml.a. Also checks that
# libeml.so exports exactly the public API (every eml_* symbol it defines
# is declared in include/eml/eml.h, and vice versa).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
T=$(mktemp -d "${TMPDIR:-/tmp}/eml-sdk.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0

# -o all: install what this build made, without rebuilding anything.
if ! make -s -o all BUILD="$BUILD" install DESTDIR="$T/root" PREFIX=/usr/local >"$T/install.log" 2>&1; then
	cat "$T/install.log"
	echo "FAIL: sdk: make install"
	exit 1
fi
export PKG_CONFIG_PATH="$T/root/usr/local/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$T/root"
if ! pkg-config --exists eml; then
	echo "FAIL: sdk: pkg-config does not find eml"
	exit 1
fi
# A sanitizer build's library needs its runtime in the program too.
CF="$(pkg-config --cflags eml) ${EML_SANFLAGS:-}"
mkdir -p "$T/scratch"
refused="127.0.0.1:1"

# shellcheck disable=SC2086
if cc -std=c99 -Wall -Wextra -Wpedantic -Werror $CF tests/integration/sdk/sdk_smoke.c \
	$(pkg-config --libs eml) -o "$T/smoke-so" 2>"$T/cc1.log" &&
	LD_LIBRARY_PATH="$T/root/usr/local/lib" "$T/smoke-so" "$T/scratch" "$refused"; then
	echo "PASS: sdk: program built with pkg-config --cflags/--libs eml runs against libeml.so"
else
	cat "$T/cc1.log"
	echo "FAIL: sdk: shared build"
	fail=1
fi

# shellcheck disable=SC2086
if cc -std=c99 -Wall -Wextra -Wpedantic -Werror $CF tests/integration/sdk/sdk_smoke.c \
	"$T/root/usr/local/lib/libeml.a" $(pkg-config --static --libs-only-l eml | sed 's/-leml//') \
	-o "$T/smoke-a" 2>"$T/cc2.log" && "$T/smoke-a" "$T/scratch" "$refused" >/dev/null; then
	echo "PASS: sdk: the same program linked statically with libeml.a"
else
	cat "$T/cc2.log"
	echo "FAIL: sdk: static build"
	fail=1
fi

if command -v c++ >/dev/null && echo '#include <eml/eml.h>
int main() { return eml_version() == 0; }' | c++ -x c++ -Wall -Werror $CF - \
	$(pkg-config --libs eml) -o "$T/cxx" 2>"$T/cxx.log"; then
	echo "PASS: sdk: the header compiles as C++ (extern \"C\")"
else
	cat "$T/cxx.log"
	echo "FAIL: sdk: C++ include"
	fail=1
fi

exported=$(nm -D --defined-only "$BUILD/lib/libeml.so" | awk '{print $3}' | grep -v '^_' | sort)
declared=$(grep -o 'EML_API [^(]*(' include/eml/eml.h | grep -o 'eml_[a-z_]*(' | tr -d '(' | sort)
if [ "$exported" = "$declared" ]; then
	echo "PASS: sdk: libeml.so exports exactly the $(echo "$declared" | wc -l) public functions"
else
	diff <(echo "$declared") <(echo "$exported")
	echo "FAIL: sdk: libeml.so exports differ from include/eml/eml.h"
	fail=1
fi
exit $fail

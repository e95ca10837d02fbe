#!/usr/bin/env bash
# make lint: the checks a compiler does not make (STYLE §24, §44).
#  - banned calls in product code: unbounded string functions, atoi-style
#    parsing that cannot report errors, alloca, gets, strtok;
#  - raw heap allocation outside common/eml_mem.c (everything goes through
#    eml_alloc / eml_secure_alloc so tests can fail allocations and wipe);
#  - non-ASCII bytes in sources, except the section sign in spec citations.
set -u
cd "$(dirname "$0")/.."
status=0
product=$(git ls-files 'common/*.[ch]' 'attestation/*.[ch]' 'enclave-agent/*.[ch]' \
	'host-proxy/*.[ch]' 'client/*.[ch]' 'include/*.h' \
	'eif-build/*.[ch]')
all=$(git ls-files '*.c' '*.h' '*.proto' '*.sh' 'Makefile')

report() { # TITLE MATCHES
	if [ -n "$2" ]; then
		echo "lint: $1:"
		echo "$2" | sed 's/^/  /'
		status=1
	fi
}

# shellcheck disable=SC2086
report "banned function" "$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|atoll|alloca|gets|strtok)\(' $product)"
# shellcheck disable=SC2086
report "raw allocation outside common/eml_mem.c" \
	"$(grep -nE '(^|[^_a-z])(malloc|calloc|realloc|free)\(' $product | grep -v '^common/eml_mem.c:' |
		grep -vE '(eml|sodium|OPENSSL|cbor|json|X509|EVP|BN|ECDSA|EC_KEY|ASN1|protobuf_c)[A-Za-z_]*_?free\(')"
# shellcheck disable=SC2086
report "non-ASCII byte (only the section sign is allowed)" \
	"$(LC_ALL=C grep -nP '[^\x00-\x7F]' $all | LC_ALL=C.UTF-8 grep -vP '^[^:]*:[0-9]+:[\x00-\x7F§]*$')"

[ $status -eq 0 ] && echo "lint: clean ($(echo "$all" | wc -l) files)"
exit $status

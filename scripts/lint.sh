#!/usr/bin/env bash
# make lint: the checks a compiler does not make (STYLE §24, §44).
#  - banned calls in product code: unbounded string functions, atoi-style
#    parsing that cannot report errors, alloca, gets, strtok;
#  - raw heap allocation outside common/eml_mem.c (everything goes through
#    eml_alloc / eml_secure_alloc so tests can fail allocations and wipe);
#  - non-ASCII bytes in sources, except the section sign in spec citations;
#  - cyclomatic complexity per function above CC_MAX (pmccabe), except the
#    ceilings in scripts/complexity-allow.txt (a ratchet);
#  - clang-format drift (.clang-format) in the files of
#    scripts/clang-format.list, the ones that already follow it;
#  - an include edge between rooms outside the allowed set below
#    (docs/internals/README.md; scripts/include-graph.sh computes them).
set -u
cd "$(dirname "$0")/.."
status=0
product=$(git ls-files 'common/*.[ch]' 'attestation/*.[ch]' 'model/*.[ch]' 'enclave-agent/*.[ch]' \
	'host-proxy/*.[ch]' 'client/*.[ch]' 'include/*.h' \
	'eif-build/*.[ch]')
# Complexity also covers the engine and its kernels.
CC_MAX=${CC_MAX:-30}
measured=$(git ls-files 'common/*.c' 'attestation/*.c' 'model/*.c' 'engine/*.c' 'enclave-agent/*.c' \
	'host-proxy/*.c' 'client/*.c' 'eif-build/*.c')
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
# The C library qsort may allocate and call sysinfo, which the agent's seccomp filter
# kills: product code sorts with eml_sort (common/eml_sort.h).
# shellcheck disable=SC2086
report "qsort in product code (use eml_sort)" "$(grep -nE '\bqsort\(' $product)"
# Fault points (issue 20) exist only in the fault-injection build: no
# source may switch them on, and each EML_FAULT use sits in an #ifdef.
# shellcheck disable=SC2086
report "EML_FAULT_INJECTION defined in a source (only make prove-properties may)" \
	"$(grep -nE '#[[:space:]]*define[[:space:]]+EML_FAULT_INJECTION' $product)"
# shellcheck disable=SC2086
report "EML_FAULT(...) outside #ifdef EML_FAULT_INJECTION" \
	"$(awk 'FNR == 1 { depth = 0 }
		/^#[[:space:]]*ifdef[[:space:]]+EML_FAULT_INJECTION/ { depth++ }
		/^#[[:space:]]*endif/ && depth > 0 { depth-- }
		/EML_FAULT\(/ && depth == 0 && FILENAME != "common/eml_fault.h" {
			print FILENAME ":" FNR ": " $0 }' $product)"
# shellcheck disable=SC2086
report "raw allocation outside common/eml_mem.c" \
	"$(grep -nE '(^|[^_a-z])(malloc|calloc|realloc|free)\(' $product | grep -v '^common/eml_mem.c:' |
		grep -vE '(eml|sodium|OPENSSL|cbor|json|X509|EVP|BN|ECDSA|EC_KEY|ASN1|protobuf_c)[A-Za-z_]*_?free\(')"
# shellcheck disable=SC2086
report "non-ASCII byte (only the section sign is allowed)" \
	"$(LC_ALL=C grep -nP '[^\x00-\x7F]' $all | LC_ALL=C.UTF-8 grep -vP '^[^:]*:[0-9]+:[\x00-\x7F§]*$')"

# pmccabe: "modified traditional statements first-line lines file(line): name"
if command -v pmccabe >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	report "cyclomatic complexity above $CC_MAX (split the function, or see scripts/complexity-allow.txt)" \
		"$(pmccabe $measured 2>/dev/null | awk -v cap="$CC_MAX" '
			NR == FNR { if ($0 !~ /^#/ && NF >= 3) allow[$1 " " $2] = $3; next }
			{ f = $6; sub(/\(.*/, "", f); fn = $7
			  lim = ((f " " fn) in allow) ? allow[f " " fn] : cap
			  if ($2 > lim) printf "%s: %s: %d (limit %d)\n", $6, fn, $2, lim }' \
			scripts/complexity-allow.txt -)"
else
	report "pmccabe missing (make deps)" "pmccabe not installed"
fi
if command -v clang-format >/dev/null 2>&1; then
	report "clang-format drift (files in scripts/clang-format.list: clang-format -i FILE, or take the file off the list)" \
		"$(grep -v '^#' scripts/clang-format.list | xargs clang-format --dry-run 2>&1 | grep 'warning:' | sed 's/: warning.*//')"
else
	report "clang-format missing (make deps)" "clang-format not installed"
fi

# Rooms (DESIGN §2): who may include whom.
ALLOWED_EDGES="common->proto attestation->common model->common model->proto engine->common
engine->model enclave-agent->common enclave-agent->attestation enclave-agent->model
enclave-agent->engine host-proxy->common host-proxy->model client->common client->attestation client->model
client->engine client->eif-build client->proto eif-build->common"
report "include edge between rooms not allowed (docs/internals/README.md)" \
	"$(scripts/include-graph.sh --edges | while read -r from _ to n; do
		case " $(echo $ALLOWED_EDGES) " in
		*" $from->$to "*) ;;
		*) echo "$from -> $to ($n includes)" ;;
		esac
	done)"

[ $status -eq 0 ] && echo "lint: clean ($(echo "$all" | wc -l) files)"
exit $status

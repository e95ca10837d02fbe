#!/usr/bin/env bash
# Each program links only what its room uses (issue 10, DESIGN §2), checked
# with nm on the built binaries (hidden symbols stay in the symbol table, so
# a function pulled in from a room archive shows up even though it is not
# exported):
#  - eml-agent: no ONNX importer, no splitter, no topology-key or sealed-blob
#    writer, no model signer or key generator (it only reads and verifies);
#  - eml-proxy: no engine or kernels, no secure channel (session keys), no
#    model format (topology key, sealed blob, signatures, graph, assembly);
#  - libeml.so: the client SDK, without engine, importer or model writers.
# A positive control first: the owner's `eml` must contain the writers, so
# the patterns are known to match real symbols.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
fail=0

syms() { # FILE -> every defined function and data symbol name
	nm --defined-only "$1" 2>/dev/null | awk '$2 ~ /^[tTdDbBrR]$/ {print $3}'
}

# The importer is the ONNX model reader and the splitter; the generated
# onnx.proto code (the SDK reads TensorProto files with it) is not.
IMPORTER='^(eml_onnx_import|eml_split_)'
WRITERS='^(eml_topo_encode|eml_blob_header_write)$|^eml_blob_writer_'
SIGNER='^(eml_sign_model|eml_sign_keygen_|eml_sign_key_load_pem|eml_sig_encode)'
ENGINE='^(eml_engine_|eml_plan_|eml_ops?_|eml_kernels_|eml_threadpool_|eml_gemm|eml_conv)'
CHANNEL='^(eml_channel_|eml_kx_|eml_session_key)'
FORMATS='^(eml_topo_|eml_blob_|eml_sig_|eml_sign_|eml_trust_|eml_assemble|eml_graph_|eml_onnx_|eml__topo__|emlonnx__|eml_manifest_)'
# The one exception for the proxy: the model.sig file parser
# (model/eml_sig_file.c), for --strict-artifacts (issue 13); no verifier,
# key or trust code. proxy_isolation.sh says why.
PROXY_SIG_OK='^(eml_sig_parse|eml_sig_len_ok)$'

# expect_none NAME FILE WHAT REGEX [ALLOWED_REGEX]
expect_none() {
	local hits
	hits=$(syms "$2" | grep -E "$4" | grep -vE "${5:-^$}" || true)
	if [ -n "$hits" ]; then
		echo "FAIL: link_rooms: $1 contains $3:"
		echo "$hits" | head -10 | sed 's/^/    /'
		fail=1
	else
		echo "PASS: link_rooms: $1 has no $3"
	fi
}

# expect_some NAME FILE WHAT REGEX
expect_some() {
	if syms "$2" | grep -qE "$4"; then
		echo "PASS: link_rooms: control: $1 does contain $3"
	else
		echo "FAIL: link_rooms: control: $1 lacks $3 (symbols stripped or names changed?)"
		fail=1
	fi
}

for f in bin/eml bin/eml-agent bin/eml-proxy lib/libeml.so; do
	[ -e "$BUILD/$f" ] || { echo "FAIL: link_rooms: $BUILD/$f missing"; exit 1; }
done

expect_some eml "$BUILD/bin/eml" "the ONNX importer" "$IMPORTER"
expect_some eml "$BUILD/bin/eml" "the model writers" "$WRITERS"
expect_some eml "$BUILD/bin/eml" "the signer and key generator" "$SIGNER"
expect_some eml "$BUILD/bin/eml" "the engine" "$ENGINE"
expect_some eml-agent "$BUILD/bin/eml-agent" "the topology-key reader" '^eml_topo_decode$'

expect_none eml-agent "$BUILD/bin/eml-agent" "ONNX importer or splitter" "$IMPORTER"
expect_none eml-agent "$BUILD/bin/eml-agent" "topology-key or sealed-blob writer" "$WRITERS"
expect_none eml-agent "$BUILD/bin/eml-agent" "signer or key generator" "$SIGNER"

expect_none eml-proxy "$BUILD/bin/eml-proxy" "engine or kernel code" "$ENGINE"
expect_none eml-proxy "$BUILD/bin/eml-proxy" "secure-channel (session key) code" "$CHANNEL"
expect_none eml-proxy "$BUILD/bin/eml-proxy" "model-format code (beyond the model.sig parser)" \
	"$FORMATS" "$PROXY_SIG_OK"

expect_none libeml.so "$BUILD/lib/libeml.so" "engine code" "$ENGINE"
expect_none libeml.so "$BUILD/lib/libeml.so" "ONNX importer or splitter" "$IMPORTER"
expect_none libeml.so "$BUILD/lib/libeml.so" "model writers" "$WRITERS"
expect_none libeml.so "$BUILD/lib/libeml.so" "signer or key generator" "$SIGNER"
exit $fail

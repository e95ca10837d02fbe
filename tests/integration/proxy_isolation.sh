#!/usr/bin/env bash
# The proxy is the untrusted room (DESIGN §2, §7): it must not include
# engine, attestation or secure-channel headers, and the eml-proxy binary
# must not link any crypto that could open a session. The only crypto it
# may import is SHA-256 (content ids, the audit chain) and libsodium's
# memory helpers, plus libssl's TLS server calls for the client listener
# (--tls-cert, issue 13: the outer leg only; the inner channel stays end to
# end), named one by one below so any other libssl or libcrypto import
# fails. Checked on the built binary, so a stray dependency pulled in
# through a common/ archive is caught too.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BIN="$BUILD/bin/eml-proxy"
fail=0

[ -x "$BIN" ] || { echo "FAIL: proxy_isolation: $BIN missing"; exit 1; }

# 1. headers
bad=$(grep -nE '#include *"(eml_channel\.h|attestation/|enclave-agent/|engine/|kernels/|client/|eml_attest|eml_agent\.h|eml_agent_|eml/)' \
	host-proxy/*.c host-proxy/*.h || true)
if [ -n "$bad" ]; then
	echo "FAIL: proxy_isolation: forbidden includes in host-proxy/:"
	echo "$bad"
	fail=1
else
	echo "PASS: proxy_isolation: host-proxy/ includes no engine, attestation, agent or channel header"
fi

# 2. dynamic imports: crypto_* only SHA-256; of OpenSSL only the TLS
# server API of host-proxy/eml_tls.c
tls_ok='SSL_CTX_(new|free|ctrl|set_options|use_certificate_chain_file|use_PrivateKey_file|check_private_key)'
tls_ok="$tls_ok|SSL_(new|free|set_fd|accept|read|write|pending|get_error|shutdown|ctrl)"
tls_ok="$tls_ok|TLS_server_method|ERR_(get_error|error_string_n|clear_error)"
imports=$(nm -D --undefined-only "$BIN" | awk '{print $2}' | sed 's/@.*//')
badimp=$(printf '%s\n' "$imports" |
	grep -E '^(crypto_|EVP_|SSL_|TLS|X509|EC_|ECDSA|RSA_|HKDF|HMAC|CMAC|PEM_|d2i_|i2d_|cbor_|ERR_)' |
	grep -vE '^crypto_hash_sha256(_init|_update|_final)?$' | grep -vxE "$tls_ok" || true)
if [ -n "$badimp" ]; then
	echo "FAIL: proxy_isolation: eml-proxy imports session-capable crypto or parsers:"
	echo "$badimp"
	fail=1
else
	echo "PASS: proxy_isolation: eml-proxy imports no crypto beyond SHA-256 ($(printf '%s\n' "$imports" | grep -c '^crypto_') crypto_* symbols, all SHA-256)"
fi

# 2b. model/: only the model.sig file parser (issue 13, --strict-artifacts).
# The proxy may tell the operator whether a blob in its store has a
# well-formed signature file naming an allowed signer, and refuse to serve
# one that does not: hygiene on an untrusted host, the agent verifies the
# signature itself. For that it includes model/eml_sig_file.h and links
# eml_sig_parse (bounded, no crypto, no keys); never the verifier, a key,
# the trust set, the topology key, the sealed blob (decryption) or the
# assembly. Deliberately narrow: any other model/ header or symbol fails.
badinc=$(grep -nE '#include *"model/' host-proxy/*.c host-proxy/*.h |
	grep -vE '#include *"model/eml_sig_file\.h"' || true)
modsyms=$(nm "$BIN" | awk '$2 ~ /^[tTdDbBrR]$/ {print $3}' |
	grep -E '^(eml_sig_|eml_sign_|eml_trust_|eml_topo|eml_blob_(open|read|chunk|header)|eml_assembl|eml_graph|eml_manifest|eml_onnx|eml_validate|eml__topo__|emlonnx__)' |
	grep -vxE 'eml_sig_parse|eml_sig_len_ok' || true)
if [ -n "$badinc$modsyms" ]; then
	echo "FAIL: proxy_isolation: host-proxy/ takes more of model/ than the model.sig parser:"
	printf '%s\n%s\n' "$badinc" "$modsyms" | sed '/^$/d' | head -20
	fail=1
elif ! nm "$BIN" | grep -q ' eml_sig_parse$'; then
	echo "FAIL: proxy_isolation: control: eml_sig_parse not found in eml-proxy (symbols stripped?)"
	fail=1
else
	echo "PASS: proxy_isolation: of model/, eml-proxy has only the model.sig parser"
fi

# 3. no channel, attestation, agent or engine code linked in
linked=$(nm "$BIN" | awk '{print $3}' |
	grep -E '^eml_(channel|attest_|agent_|engine|graph|kernel|split|topo|sealed|onnx)' || true)
if [ -n "$linked" ]; then
	echo "FAIL: proxy_isolation: eml-proxy contains code from other rooms:"
	echo "$linked" | head -20
	fail=1
else
	echo "PASS: proxy_isolation: no eml_channel/attest/agent/engine symbol in eml-proxy"
fi
exit $fail

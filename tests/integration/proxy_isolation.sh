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

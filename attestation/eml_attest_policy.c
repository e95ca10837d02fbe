/*
 * Application policy over an authenticated document (AWS
 * attestation_process.md §2.2.1-2.2.2: PCRs, nonce, user_data, public_key
 * are the caller's to check), the JSON policy file, and the policy digest.
 */
#include "eml_attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "eml_buf.h"
#include "eml_fault.h"
#include "eml_json.h"
#include "eml_num.h"

/* ATTESTATION.md section 6; v1 (jansson's sorted-key writer over the
 * file) until issue 13's manifest. */
#define POLICY_DOMAIN "EphemeralML policy manifest v2"

void
eml_attest_policy_init(struct eml_attest_policy *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->allow_debug = false;
}

/* "expected 1a2b..., got 0000..." with at most 48 bytes of each side. */
static void
mismatch_detail(const char *what, const uint8_t *want, size_t wl, const uint8_t *got, size_t gl,
    bool got_present)
{
	char wh[97];
	char gh[97];

	eml_hex_encode(wh, want, wl > 48 ? 48 : wl);
	eml_hex_encode(gh, got, gl > 48 ? 48 : gl);
	eml_err_set_detail("%s: expected %s%s (%zu bytes), got %s%s", what, wh, wl > 48 ? "..." : "",
	    wl, got_present ? gh : "null", (got_present && gl > 48) ? "..." : "");
}

static bool
bytes_equal(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	return al == bl && (al == 0 || sodium_memcmp(a, b, al) == 0);
}

static eml_err
check_pcrs(const struct eml_attest_doc *doc, const struct eml_attest_policy *pol)
{
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		char what[16];

		if (!(pol->pcr_mask & (1u << i)))
			continue;
		(void)snprintf(what, sizeof(what), "PCR%u", i);
		if (!(doc->pcr_present & (1u << i))) {
			eml_err_set_detail("%s: expected by the policy, absent from the document", what);
			EML_BAIL(EML_ERR_ATTEST_PCR_MISSING);
		}
#ifdef EML_FAULT_INJECTION
		if (EML_FAULT("verify_skip_pcr"))
			continue; /* property 3's fault: PCRs not compared */
#endif
		if (!bytes_equal(pol->pcr[i], pol->pcr_len[i], doc->pcr[i], doc->pcr_len[i])) {
			mismatch_detail(what, pol->pcr[i], pol->pcr_len[i], doc->pcr[i],
			    doc->pcr_len[i], true);
			EML_BAIL(EML_ERR_ATTEST_PCR_MISMATCH);
		}
	}
	return EML_OK;
}

static eml_err
check_bytes(const char *what, bool set, const uint8_t *want, size_t wl,
    const struct eml_attest_bytes *got, eml_err code)
{
	if (!set)
		return EML_OK;
	if (!got->present || !bytes_equal(want, wl, got->data, got->len)) {
		mismatch_detail(what, want, wl, got->data, got->len, got->present);
		EML_BAIL(code);
	}
	return EML_OK;
}

eml_err
eml_attest_policy_check(const struct eml_attest_doc *doc, const struct eml_attest_policy *pol,
    uint64_t now_ms)
{
	EML_ENSURE_REF(doc);
	EML_ENSURE_REF(pol);
	EML_GUARD(check_pcrs(doc, pol));
	/* A debug-mode enclave reports zero PCR0-2 and can be inspected by
	 * its host: nothing it says about its image is worth anything. A
	 * document without PCR0-2 cannot prove it is not one. */
	if (!pol->allow_debug) {
		for (unsigned i = 0; i < 3; i++) {
			if (!(doc->pcr_present & (1u << i))) {
				eml_err_set_detail("PCR%u absent: cannot rule out a debug enclave", i);
				EML_BAIL(EML_ERR_ATTEST_PCR_MISSING);
			}
		}
		if (eml_attest_doc_is_debug(doc)) {
			eml_err_set_detail("PCR0, PCR1 and PCR2 are all zero: debug-mode enclave");
			EML_BAIL(EML_ERR_ATTEST_DEBUG);
		}
	}
	EML_GUARD(check_bytes("nonce", pol->nonce_set, pol->nonce, pol->nonce_len, &doc->nonce,
	    EML_ERR_ATTEST_NONCE));
	/* user_data is the agent's policy manifest digest: say so, since a
	 * changed manifest (an operator loosening a rule) shows up here. */
	EML_GUARD(check_bytes("user_data (policy manifest digest: the agent runs another policy)", pol->user_data_set, pol->user_data, pol->user_data_len,
	    &doc->user_data, EML_ERR_ATTEST_USER_DATA));
	if (pol->require_public_key && (!doc->public_key.present || doc->public_key.len == 0)) {
		eml_err_set_detail("public_key is %s", doc->public_key.present ? "empty" : "null");
		EML_BAIL(EML_ERR_ATTEST_PUBLIC_KEY);
	}
	if (doc->timestamp_ms > now_ms && doc->timestamp_ms - now_ms > EML_ATTEST_FUTURE_SKEW_MS) {
		eml_err_set_detail("timestamp is %llu ms after the verification time",
		    (unsigned long long)(doc->timestamp_ms - now_ms));
		EML_BAIL(EML_ERR_ATTEST_FUTURE);
	}
	if (pol->max_age_ms != 0 && now_ms > doc->timestamp_ms &&
	    now_ms - doc->timestamp_ms > pol->max_age_ms) {
		eml_err_set_detail("document is %llu s old, the policy allows %llu s",
		    (unsigned long long)((now_ms - doc->timestamp_ms) / 1000),
		    (unsigned long long)(pol->max_age_ms / 1000));
		EML_BAIL(EML_ERR_ATTEST_TOO_OLD);
	}
	return EML_OK;
}

/* ---------------------------------------------------------------- file */

#define POLICY_FAIL(...)                                                       \
	do {                                                                   \
		eml_err_set_detail(__VA_ARGS__);                               \
		EML_BAIL(EML_ERR_ATTEST_POLICY);                               \
	} while (0)

/* Hex string of exactly max bytes or fewer (any length 1..max when
 * exact == 0, else exactly `exact` bytes). */
static eml_err
hex_value(json_t *v, const char *key, size_t exact, size_t max, uint8_t *dst, size_t *len)
{
	const char *s;
	size_t sl;

	if (!json_is_string(v))
		POLICY_FAIL("%s: not a string", key);
	s = json_string_value(v);
	sl = json_string_length(v);
	if (sl == 0 || sl % 2 != 0 || sl / 2 > max || (exact != 0 && sl / 2 != exact))
		POLICY_FAIL("%s: wrong hex length", key);
	if (eml_hex_decode(dst, sl / 2, s) != EML_OK)
		POLICY_FAIL("%s: not hex", key);
	*len = sl / 2;
	return EML_OK;
}

static eml_err
parse_pcrs_obj(json_t *obj, struct eml_attest_policy *pol)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj))
		POLICY_FAIL("%s: not an object", "pcrs");
	json_object_foreach(obj, k, v) {
		uint64_t idx;
		size_t len = 0;

		/* nitro-cli's "Measurements" carry the hash name beside the
		 * PCRs: only SHA-384 is what a Nitro document holds. */
		if (strcmp(k, "HashAlgorithm") == 0) {
			if (!json_is_string(v) || strncmp(json_string_value(v), "Sha384", 6) != 0)
				POLICY_FAIL("%s: only Sha384 measurements", k);
			continue;
		}
		/* Decimal index 0..31, no sign, no leading zeros; nitro-cli
		 * spells it PCR0 .. PCR31. */
		if (eml_num_u64(strncmp(k, "PCR", 3) == 0 ? k + 3 : k, 0, EML_ATTEST_PCR_COUNT - 1,
			&idx) != EML_OK)
			POLICY_FAIL("pcrs: key \"%.8s\" is not a PCR index 0..31 (or PCR0..PCR31)", k);
		if ((pol->pcr_mask & (1u << idx)) != 0)
			POLICY_FAIL("pcrs: PCR %u given twice", (unsigned)idx);
		EML_GUARD(hex_value(v, "pcrs value", 0, EML_ATTEST_PCR_MAX, pol->pcr[idx], &len));
		if (len != 32 && len != 48 && len != 64)
			POLICY_FAIL("%s: a PCR is 32, 48 or 64 bytes", "pcrs value");
		pol->pcr_len[idx] = len;
		pol->pcr_mask |= 1u << idx;
	}
	return EML_OK;
}

static eml_err
parse_bool(json_t *v, const char *key, bool *out)
{
	if (!json_is_boolean(v))
		POLICY_FAIL("%s: not true or false", key);
	*out = json_is_true(v);
	return EML_OK;
}

static eml_err
parse_key(const char *k, json_t *v, struct eml_attest_policy *pol)
{
	if (strcmp(k, "version") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) != 1)
			POLICY_FAIL("%s: only version 1 is known", k);
		return EML_OK;
	}
	/* "Measurements": the object nitro-cli build-enclave and describe-eif
	 * print, pasted as it is */
	if (strcmp(k, "pcrs") == 0 || strcmp(k, "Measurements") == 0)
		return parse_pcrs_obj(v, pol);
	if (strcmp(k, "trust_root") == 0) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= sizeof(pol->root_path) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			POLICY_FAIL("%s: not a file path", k);
		EML_MEMCPY(pol->root_path, json_string_value(v), json_string_length(v) + 1);
		return EML_OK;
	}
	if (strcmp(k, "trust_root_pem") == 0) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= sizeof(pol->root_pem) ||
		    strstr(json_string_value(v), "-----BEGIN CERTIFICATE-----") == NULL)
			POLICY_FAIL("%s: not a PEM certificate", k);
		pol->root_pem_len = json_string_length(v);
		EML_MEMCPY(pol->root_pem, json_string_value(v), pol->root_pem_len + 1);
		return EML_OK;
	}
	if (strcmp(k, "max_age_seconds") == 0) {
		json_int_t s;

		if (!json_is_integer(v))
			POLICY_FAIL("%s: not an integer", k);
		s = json_integer_value(v);
		/* Zero would mean "no limit" internally: refuse it here so a
		 * typo cannot silently disable the check. */
		if (s <= 0 || s > 10LL * 365 * 24 * 3600)
			POLICY_FAIL("%s: want 1 .. 10 years in seconds", k);
		pol->max_age_ms = (uint64_t)s * 1000u;
		return EML_OK;
	}
	if (strcmp(k, "policy_digest") == 0) {
		EML_GUARD(hex_value(v, k, 0, EML_ATTEST_OPT_MAX, pol->user_data, &pol->user_data_len));
		pol->user_data_set = true;
		return EML_OK;
	}
	if (strcmp(k, "allow_debug") == 0)
		return parse_bool(v, k, &pol->allow_debug);
	if (strcmp(k, "require_public_key") == 0)
		return parse_bool(v, k, &pol->require_public_key);
	POLICY_FAIL("unknown key \"%.40s\"", k);
}

eml_err
eml_attest_policy_parse(const uint8_t *json, size_t n, struct eml_attest_policy *pol)
{
	eml_err rc = EML_ERR_INTERNAL;
	json_t *root = NULL;
	json_error_t jerr;
	const char *k;
	json_t *v;

	if (json == NULL || pol == NULL)
		EML_BAIL(EML_ERR_NULL);
	eml_attest_policy_init(pol);
	if (n == 0 || n > EML_ATTEST_POLICY_FILE_MAX) {
		eml_err_set_detail("policy is %zu bytes, want 1..%d", n, EML_ATTEST_POLICY_FILE_MAX);
		EML_BAIL(EML_ERR_ATTEST_POLICY);
	}
	root = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		eml_err_set_detail("policy JSON line %d: %.120s", jerr.line, jerr.text);
		EML_FAIL(rc, EML_ERR_ATTEST_POLICY);
	}
	if (!json_is_object(root)) {
		eml_err_set_detail("policy is not a JSON object");
		EML_FAIL(rc, EML_ERR_ATTEST_POLICY);
	}
	if (json_object_get(root, "version") == NULL) {
		eml_err_set_detail("policy lacks \"version\": 1");
		EML_FAIL(rc, EML_ERR_ATTEST_POLICY);
	}
	if (json_object_get(root, "trust_root") != NULL &&
	    json_object_get(root, "trust_root_pem") != NULL) {
		eml_err_set_detail("policy names both trust_root and trust_root_pem");
		EML_FAIL(rc, EML_ERR_ATTEST_POLICY);
	}
	json_object_foreach(root, k, v) {
		if ((rc = parse_key(k, v, pol)) != EML_OK)
			goto out;
	}
	rc = EML_OK;
out:
	if (rc != EML_OK)
		eml_attest_policy_init(pol);
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------- digest */

eml_err
eml_attest_policy_digest(const uint8_t *manifest, size_t n, uint8_t out[EML_ATTEST_POLICY_DIGEST_LEN])
{
	eml_err rc;

	if (manifest == NULL || out == NULL)
		EML_BAIL(EML_ERR_NULL);
	if (n == 0 || n > EML_ATTEST_POLICY_FILE_MAX) {
		eml_err_set_detail("manifest is %zu bytes", n);
		EML_BAIL(EML_ERR_ATTEST_POLICY);
	}
	rc = eml_json_domain_sha256(POLICY_DOMAIN, manifest, n, out);
	if (rc == EML_ERR_JSON || rc == EML_ERR_PROTO_TOO_LARGE)
		EML_BAIL(EML_ERR_ATTEST_POLICY); /* the detail says where */
	return rc;
}

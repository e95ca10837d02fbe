/*
 * Strict parsing of the Nitro attestation document: the COSE_Sign1
 * envelope (RFC 9052 §4.2) and the payload map (AWS attestation_process.md
 * §2.2 and §3.2.2, as amended by what real documents do; NOTES.md §2).
 */
#include "eml_attest.h"

#include <string.h>

#include "eml_buf.h"
#include "eml_cbor.h"

/* RFC 9052 §4.2: COSE_Sign1 tag. */
#define COSE_SIGN1_TAG 18
/* RFC 9052 §3.1: header labels. */
#define COSE_HDR_ALG 1
#define COSE_HDR_CRIT 2
/* RFC 9053 §2.1: ES384 = -35, CBOR negative integer with value 34. */
#define COSE_ALG_ES384_NEG 34
/* Nine keys in every real document; a little room so that a document with
 * a few extra keys is reported as "unknown field", not "too large". */
#define PAYLOAD_MAX_KEYS 16

static eml_err
parse_protected(struct eml_attest_doc *doc)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_cur c = eml_cur_make(doc->protected_hdr, doc->protected_len);
	struct eml_cbor_item *hdr = NULL;
	size_t n;
	bool have_alg = false;

	rc = eml_cbor_decode(&c, &hdr);
	if (rc == EML_ERR_NOMEM)
		goto out;
	if (rc != EML_OK) {
		eml_err_set_detail("protected header is not one CBOR item");
		EML_FAIL(rc, EML_ERR_ATTEST_COSE_HEADER);
	}
	if (c.left != 0 || !eml_cbor_is_map(hdr)) {
		eml_err_set_detail("protected header is not exactly one CBOR map");
		EML_FAIL(rc, EML_ERR_ATTEST_COSE_HEADER);
	}
	n = eml_cbor_map_size(hdr);
	for (size_t i = 0; i < n; i++) {
		const struct eml_cbor_item *k = eml_cbor_map_key(hdr, i);
		const struct eml_cbor_item *v = eml_cbor_map_value(hdr, i);
		uint64_t kv = 0;
		uint64_t neg = 0;

		if (eml_cbor_get_uint(k, &kv) == EML_OK) {
			for (size_t j = 0; j < i; j++) {
				if (eml_cbor_uint_eq(eml_cbor_map_key(hdr, j), kv)) {
					eml_err_set_detail("protected header repeats label %u",
					    (unsigned)kv);
					EML_FAIL(rc, EML_ERR_ATTEST_DUP_KEY);
				}
			}
		}
		if (eml_cbor_uint_eq(k, COSE_HDR_ALG)) {
			/* Nitro signs with ES384 only; anything else, including
			 * a weaker algorithm named by the attacker, is refused. */
			if (eml_cbor_get_negint(v, &neg) != EML_OK || neg != COSE_ALG_ES384_NEG) {
				if (eml_cbor_is_negint(v))
					eml_err_set_detail("alg is %lld, want -35 (ES384)",
					    neg > (uint64_t)INT64_MAX ? (long long)INT64_MIN
								      : -1 - (long long)neg);
				else
					eml_err_set_detail("alg is not an integer, want -35 (ES384)");
				EML_FAIL(rc, EML_ERR_ATTEST_COSE_ALG);
			}
			have_alg = true;
		} else if (eml_cbor_uint_eq(k, COSE_HDR_CRIT)) {
			/* RFC 9052 §3.1: a recipient MUST reject a message whose
			 * crit lists a label it does not understand; we
			 * understand none beyond alg. */
			eml_err_set_detail("protected header carries crit");
			EML_FAIL(rc, EML_ERR_ATTEST_COSE_CRIT);
		} else {
			eml_err_set_detail("protected header has a parameter other than alg");
			EML_FAIL(rc, EML_ERR_ATTEST_COSE_HEADER);
		}
	}
	if (!have_alg) {
		eml_err_set_detail("protected header lacks alg");
		EML_FAIL(rc, EML_ERR_ATTEST_COSE_HEADER);
	}
	rc = EML_OK;
out:
	eml_cbor_free(&hdr);
	return rc;
}

/* Unprotected header: Nitro sends {}. Nothing in it is signed and we use
 * nothing from it, so anything else is refused rather than ignored. */
static eml_err
check_unprotected(const struct eml_cbor_item *u)
{
	if (!eml_cbor_is_map(u)) {
		eml_err_set_detail("COSE unprotected header is not a map");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	if (eml_cbor_map_size(u) == 0)
		return EML_OK;
	for (size_t i = 0; i < eml_cbor_map_size(u); i++) {
		if (eml_cbor_uint_eq(eml_cbor_map_key(u, i), COSE_HDR_CRIT)) {
			eml_err_set_detail("unprotected header carries crit");
			EML_BAIL(EML_ERR_ATTEST_COSE_CRIT);
		}
	}
	eml_err_set_detail("COSE unprotected header is not empty");
	EML_BAIL(EML_ERR_ATTEST_COSE_HEADER);
}

static eml_err
parse_envelope(const struct eml_cbor_item *arr, struct eml_attest_doc *doc)
{
	const uint8_t *p;
	size_t n;

	if (eml_cbor_is_tag(arr)) {
		eml_err_set_detail("a tag where the COSE_Sign1 array belongs");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	if (!eml_cbor_is_array(arr) || eml_cbor_is_indefinite(arr) ||
	    eml_cbor_array_size(arr) != 4) {
		eml_err_set_detail("not a definite array of 4 items");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}

	if (eml_cbor_get_bytes(eml_cbor_array_get(arr, 0), &p, &n) != EML_OK) {
		eml_err_set_detail("protected header is not a byte string");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	if (n > sizeof(doc->protected_hdr)) {
		eml_err_set_detail("protected header is %zu bytes, expected {1: -35}", n);
		EML_BAIL(EML_ERR_ATTEST_COSE_HEADER);
	}
	EML_MEMCPY(doc->protected_hdr, p, n);
	doc->protected_len = n;
	EML_GUARD(parse_protected(doc));

	EML_GUARD(check_unprotected(eml_cbor_array_get(arr, 1)));

	if (eml_cbor_get_bytes(eml_cbor_array_get(arr, 2), &p, &n) != EML_OK) {
		eml_err_set_detail("payload is not a byte string (detached payloads are not used)");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	if (n == 0 || n > EML_ATTEST_PAYLOAD_MAX) {
		eml_err_set_detail("payload is %zu bytes, want 1..%d", n, EML_ATTEST_PAYLOAD_MAX);
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	EML_MEMCPY(doc->payload, p, n);
	doc->payload_len = n;

	if (eml_cbor_get_bytes(eml_cbor_array_get(arr, 3), &p, &n) != EML_OK) {
		eml_err_set_detail("signature is not a byte string");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	/* ES384 signatures are r||s, 48 bytes each (RFC 9053 §2.1). */
	if (n != EML_ATTEST_SIG_LEN) {
		eml_err_set_detail("signature is %zu bytes, want 96", n);
		EML_BAIL(EML_ERR_ATTEST_SIG_LENGTH);
	}
	EML_MEMCPY(doc->signature, p, n);
	return EML_OK;
}

static const char *const payload_keys[] = {
	"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle",
	"public_key", "user_data", "nonce",
};

static eml_err
check_known_keys(const struct eml_cbor_item *map)
{
	for (size_t i = 0; i < eml_cbor_map_size(map); i++) {
		const struct eml_cbor_item *key = eml_cbor_map_key(map, i);
		bool known = false;

		for (size_t k = 0; k < sizeof(payload_keys) / sizeof(payload_keys[0]); k++)
			known = known || eml_cbor_text_eq(key, payload_keys[k]);
		if (eml_cbor_text_eq(key, "nitrotpm_pcrs")) {
			/* NOTES §2.4: EC2 NitroTPM documents share the root and
			 * the envelope; they are not enclave documents. */
			eml_err_set_detail("payload has nitrotpm_pcrs: EC2 NitroTPM document");
			EML_BAIL(EML_ERR_ATTEST_NITROTPM);
		}
		if (!known) {
			char name[40];
			const char *s = "";
			size_t len = 0;

			/* The map passed eml_cbor_map_check: keys are text. */
			if (eml_cbor_get_text(key, &s, &len) != EML_OK)
				EML_BAIL(EML_ERR_INTERNAL);
			if (len > sizeof(name) - 1)
				len = sizeof(name) - 1;
			for (size_t j = 0; j < len; j++)
				name[j] = ((unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x7f) ? s[j] : '?';
			name[len] = '\0';
			eml_err_set_detail("unknown payload key \"%s\"", name);
			EML_BAIL(EML_ERR_ATTEST_FIELD_UNKNOWN);
		}
	}
	return EML_OK;
}

static eml_err
need(const struct eml_cbor_item *map, const char *key, const struct eml_cbor_item **out)
{
	*out = eml_cbor_map_get(map, key);
	if (*out == NULL) {
		eml_err_set_detail("payload lacks %s", key);
		EML_BAIL(EML_ERR_ATTEST_FIELD_MISSING);
	}
	return EML_OK;
}

static eml_err
bytes_field(const struct eml_cbor_item *it, const char *key, size_t min, size_t max, const uint8_t **p,
    size_t *n)
{
	if (eml_cbor_get_bytes(it, p, n) != EML_OK) {
		eml_err_set_detail("%s is not a byte string", key);
		EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
	}
	if (*n < min || *n > max) {
		eml_err_set_detail("%s is %zu bytes, want %zu..%zu", key, *n, min, max);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	return EML_OK;
}

static eml_err
parse_module_id(const struct eml_cbor_item *map, struct eml_attest_doc *doc)
{
	const struct eml_cbor_item *it;
	const char *s;
	size_t n;

	EML_GUARD(need(map, "module_id", &it));
	if (eml_cbor_get_text(it, &s, &n) != EML_OK) {
		eml_err_set_detail("module_id is not a text string");
		EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
	}
	if (n == 0 || n > EML_ATTEST_MODULE_ID_MAX) {
		eml_err_set_detail("module_id is %zu bytes, want 1..%d", n, EML_ATTEST_MODULE_ID_MAX);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	for (size_t i = 0; i < n; i++) {
		/* It ends up in logs and JSON output: printable ASCII only. */
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
			eml_err_set_detail("module_id has a non-printable byte at %zu", i);
			EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
		}
	}
	EML_MEMCPY(doc->module_id, s, n);
	doc->module_id[n] = '\0';
	return EML_OK;
}

static eml_err
parse_digest_timestamp(const struct eml_cbor_item *map, struct eml_attest_doc *doc)
{
	const struct eml_cbor_item *it;

	EML_GUARD(need(map, "digest", &it));
	if (!eml_cbor_is_text(it)) {
		eml_err_set_detail("digest is not a text string");
		EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
	}
	if (!eml_cbor_text_eq(it, "SHA384")) {
		eml_err_set_detail("digest is not \"SHA384\"");
		EML_BAIL(EML_ERR_ATTEST_DIGEST);
	}
	EML_GUARD(need(map, "timestamp", &it));
	if (eml_cbor_get_uint(it, &doc->timestamp_ms) != EML_OK) {
		eml_err_set_detail("timestamp is not an unsigned integer");
		EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
	}
	/* AWS §3.2.2: timestamp > 0, UTC milliseconds. Reject values that do
	 * not fit a 64-bit signed count of milliseconds. */
	if (doc->timestamp_ms == 0 || doc->timestamp_ms > (uint64_t)INT64_MAX) {
		eml_err_set_detail("timestamp %llu out of range",
		    (unsigned long long)doc->timestamp_ms);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	return EML_OK;
}

static eml_err
parse_pcrs(const struct eml_cbor_item *map, struct eml_attest_doc *doc)
{
	const struct eml_cbor_item *it;
	size_t n;
	eml_err rc;

	EML_GUARD(need(map, "pcrs", &it));
	if (!eml_cbor_is_map(it)) {
		eml_err_set_detail("pcrs is not a map");
		EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
	}
	rc = eml_cbor_map_check(it, false, EML_ATTEST_PCR_COUNT);
	if (rc != EML_OK)
		return rc;
	n = eml_cbor_map_size(it);
	/* AWS §3.2.2: 1..32 entries, index 0..31, value 32, 48 or 64 bytes. */
	if (n == 0) {
		eml_err_set_detail("pcrs is empty");
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t idx = 0;
		const uint8_t *p;
		size_t len;

		/* The map passed eml_cbor_map_check: keys are unsigned. */
		if (eml_cbor_get_uint(eml_cbor_map_key(it, i), &idx) != EML_OK)
			EML_BAIL(EML_ERR_INTERNAL);

		if (idx >= EML_ATTEST_PCR_COUNT) {
			eml_err_set_detail("PCR index %llu, want 0..31", (unsigned long long)idx);
			EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
		}
		if (eml_cbor_get_bytes(eml_cbor_map_value(it, i), &p, &len) != EML_OK) {
			eml_err_set_detail("PCR%u is not a byte string", (unsigned)idx);
			EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
		}
		if (len != 32 && len != 48 && len != 64) {
			eml_err_set_detail("PCR%u is %zu bytes, want 32, 48 or 64", (unsigned)idx, len);
			EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
		}
		EML_MEMCPY(doc->pcr[idx], p, len);
		doc->pcr_len[idx] = len;
		doc->pcr_present |= 1u << idx;
	}
	doc->pcr_count = n;
	return EML_OK;
}

static eml_err
parse_certs(const struct eml_cbor_item *map, struct eml_attest_doc *doc)
{
	const struct eml_cbor_item *it;
	const uint8_t *p;
	size_t n;

	EML_GUARD(need(map, "certificate", &it));
	EML_GUARD(bytes_field(it, "certificate", 1, EML_ATTEST_CERT_MAX, &p, &n));
	EML_MEMCPY(doc->certificate, p, n);
	doc->certificate_len = n;

	EML_GUARD(need(map, "cabundle", &it));
	if (!eml_cbor_is_array(it)) {
		eml_err_set_detail("cabundle is not an array");
		EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
	}
	n = eml_cbor_array_size(it);
	if (n == 0 || n > EML_ATTEST_CABUNDLE_MAX) {
		eml_err_set_detail("cabundle has %zu entries, want 1..%d", n, EML_ATTEST_CABUNDLE_MAX);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	for (size_t i = 0; i < n; i++) {
		size_t len;

		EML_GUARD(bytes_field(eml_cbor_array_get(it, i), "cabundle entry", 1, EML_ATTEST_CERT_MAX, &p, &len));
		EML_MEMCPY(doc->cabundle[i], p, len);
		doc->cabundle_len[i] = len;
	}
	doc->cabundle_count = n;
	return EML_OK;
}

/* Optional fields: real documents always carry the key, with null when
 * the value was not requested (NOTES §2.2), and may carry an empty byte
 * string (doc02's public_key). Absent keys are accepted as null too. */
static eml_err
parse_optional(const struct eml_cbor_item *map, const char *key, struct eml_attest_bytes *out)
{
	const struct eml_cbor_item *it = eml_cbor_map_get(map, key);
	const uint8_t *p;
	size_t n;

	out->present = false;
	out->len = 0;
	if (it == NULL || eml_cbor_is_null(it))
		return EML_OK;
	EML_GUARD(bytes_field(it, key, 0, EML_ATTEST_OPT_MAX, &p, &n));
	EML_MEMCPY(out->data, p, n);
	out->len = n;
	out->present = true;
	return EML_OK;
}

static eml_err
parse_payload(struct eml_attest_doc *doc)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_cur c = eml_cur_make(doc->payload, doc->payload_len);
	struct eml_cbor_item *map = NULL;

	rc = eml_cbor_decode(&c, &map);
	if (rc != EML_OK)
		goto out;
	if (c.left != 0) {
		eml_err_set_detail("%zu bytes after the payload map", c.left);
		EML_FAIL(rc, EML_ERR_ATTEST_TRAILING);
	}
	if (!eml_cbor_is_map(map)) {
		eml_err_set_detail("payload is not a CBOR map");
		EML_FAIL(rc, EML_ERR_ATTEST_FIELD_TYPE);
	}
	doc->indefinite_map = eml_cbor_is_indefinite(map);
	rc = eml_cbor_map_check(map, true, PAYLOAD_MAX_KEYS);
	if (rc != EML_OK)
		goto out;
	/* Unknown keys are refused: every genuine enclave document carries
	 * exactly the nine keys above, and the one other Nitro format seen
	 * (NitroTPM) differs precisely by its keys. A new key is a format we
	 * have not reviewed, so we fail closed and say which key it was. */
	rc = check_known_keys(map);
	if (rc != EML_OK)
		goto out;
	if ((rc = parse_module_id(map, doc)) != EML_OK ||
	    (rc = parse_digest_timestamp(map, doc)) != EML_OK ||
	    (rc = parse_pcrs(map, doc)) != EML_OK || (rc = parse_certs(map, doc)) != EML_OK ||
	    (rc = parse_optional(map, "public_key", &doc->public_key)) != EML_OK ||
	    (rc = parse_optional(map, "user_data", &doc->user_data)) != EML_OK ||
	    (rc = parse_optional(map, "nonce", &doc->nonce)) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	eml_cbor_free(&map);
	return rc;
}

/*
 * RFC 9052 §4.2: COSE_Sign1_Tagged = #6.18(COSE_Sign1). Real documents are
 * untagged; both forms are accepted. The tag is read here, before the
 * decoder, so that any other tag (at the top or inside tag 18) is refused
 * as a COSE structure error with its number.
 */
static eml_err
strip_tag(struct eml_cur *c, struct eml_attest_doc *doc)
{
	struct eml_cur t = *c;
	uint8_t b;
	uint64_t v;

	if (c->left == 0 || (c->p[0] >> 5) != 6)
		return EML_OK;
	EML_GUARD(eml_cur_read_u8(&t, &b));
	b &= 0x1f;
	if (b < 24) {
		v = b;
	} else if (b == 24) {
		uint8_t x;

		EML_ENSURE(eml_cur_read_u8(&t, &x) == EML_OK, EML_ERR_ATTEST_CBOR);
		v = x;
	} else if (b == 25) {
		uint16_t x;

		EML_ENSURE(eml_cur_read_u16be(&t, &x) == EML_OK, EML_ERR_ATTEST_CBOR);
		v = x;
	} else if (b == 26) {
		uint32_t x;

		EML_ENSURE(eml_cur_read_u32be(&t, &x) == EML_OK, EML_ERR_ATTEST_CBOR);
		v = x;
	} else if (b == 27) {
		EML_ENSURE(eml_cur_read_u64be(&t, &v) == EML_OK, EML_ERR_ATTEST_CBOR);
	} else {
		eml_err_set_detail("malformed tag head");
		EML_BAIL(EML_ERR_ATTEST_CBOR);
	}
	if (v != COSE_SIGN1_TAG) {
		eml_err_set_detail("tag %llu, want 18 (COSE_Sign1) or none", (unsigned long long)v);
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	if (t.left != 0 && (t.p[0] >> 5) == 6) {
		eml_err_set_detail("a tag inside the COSE_Sign1 tag");
		EML_BAIL(EML_ERR_ATTEST_COSE_STRUCT);
	}
	doc->tagged = true;
	*c = t;
	return EML_OK;
}

eml_err
eml_attest_doc_parse(const uint8_t *p, size_t n, struct eml_attest_doc *doc)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_cur c = eml_cur_make(p, n);
	struct eml_cbor_item *top = NULL;

	if (doc == NULL || (p == NULL && n != 0))
		EML_BAIL(EML_ERR_NULL);
	memset(doc, 0, sizeof(*doc));
	eml_err_clear_detail();
	if (n > EML_ATTEST_DOC_MAX) {
		eml_err_set_detail("%zu bytes, at most %d", n, EML_ATTEST_DOC_MAX);
		EML_BAIL(EML_ERR_ATTEST_TOO_LARGE);
	}
	if ((rc = strip_tag(&c, doc)) != EML_OK)
		goto out;
	rc = eml_cbor_decode(&c, &top);
	if (rc != EML_OK)
		goto out;
	/* Anything but an array first is not a COSE_Sign1 at all: a text file
	 * parses as one small item, and "trailing bytes" would mislead. */
	if (top->kind != EML_CBOR_K_ARRAY) {
		eml_err_set_detail("not a COSE_Sign1 document: it does not start with a CBOR array "
				   "(optionally under tag 18)");
		EML_FAIL(rc, EML_ERR_ATTEST_COSE_STRUCT);
	}
	if (c.left != 0) {
		eml_err_set_detail("%zu bytes after the COSE_Sign1 structure", c.left);
		EML_FAIL(rc, EML_ERR_ATTEST_TRAILING);
	}
	rc = parse_envelope(top, doc);
	if (rc != EML_OK)
		goto out;
	rc = parse_payload(doc);
	if (rc != EML_OK)
		goto out;
	rc = EML_OK;
out:
	eml_cbor_free(&top);
	return rc;
}

bool
eml_attest_doc_is_debug(const struct eml_attest_doc *doc)
{
	for (unsigned i = 0; i < 3; i++) {
		if (!(doc->pcr_present & (1u << i)))
			return false;
		for (size_t j = 0; j < doc->pcr_len[i]; j++) {
			if (doc->pcr[i][j] != 0)
				return false;
		}
	}
	return true;
}

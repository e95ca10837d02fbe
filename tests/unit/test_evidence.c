/* Evidence artifacts in process (attestation/eml_evidence.c): the derived
 * hashes against an independent computation (OpenSSL) of the formulas in
 * docs/EVIDENCE.md, build then verify with the simulator, and refusals the
 * end-to-end test does not reach. */
#include "eml_test.h"

#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "attestation/eml_attest_sim.h"
#include "attestation/eml_evidence.h"
#include "eml_mem.h"

static void
sha256_parts(uint8_t out[32], const void *a, size_t an, const void *b, size_t bn, const void *c,
    size_t cn)
{
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	unsigned int len = 0;

	assert_non_null(x);
	assert_int_equal(EVP_DigestInit_ex(x, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(x, a, an), 1);
	if (bn > 0)
		assert_int_equal(EVP_DigestUpdate(x, b, bn), 1);
	if (cn > 0)
		assert_int_equal(EVP_DigestUpdate(x, c, cn), 1);
	assert_int_equal(EVP_DigestFinal_ex(x, out, &len), 1);
	EVP_MD_CTX_free(x);
}

static void
derived_hashes_match_the_spec(void **state)
{
	static const char ex[] = "EphemeralML evidence v1 exchanges";
	static const char bd[] = "EphemeralML evidence v1 binding";
	uint8_t h[32], want[32], id[16], th[32], buf[32 + 8 + 3 + 8];

	(void)state;
	eml_evidence_exchange_init(h);
	sha256_parts(want, ex, sizeof(ex) - 1, NULL, 0, NULL, 0);
	assert_memory_equal(h, want, 32);
	/* h1 = SHA-256(h0 | u64be(3) | "abc" | u64be(0)) */
	eml_evidence_exchange_add(h, (const uint8_t *)"abc", 3, NULL, 0);
	memcpy(buf, want, 32);
	memset(buf + 32, 0, 8);
	buf[39] = 3;
	memcpy(buf + 40, "abc", 3);
	memset(buf + 43, 0, 8);
	sha256_parts(want, buf, sizeof(buf), NULL, 0, NULL, 0);
	assert_memory_equal(h, want, 32);
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)i;
	for (int i = 0; i < 32; i++)
		th[i] = (uint8_t)(0xa0 + i);
	eml_evidence_binding(id, th, h);
	sha256_parts(want, bd, sizeof(bd) - 1, id, 16, th, 32);
	assert_memory_equal(h, want, 32);
}

struct world {
	struct eml_attest_sim *sim;
	struct eml_attest_root *root;
	uint8_t pk[32], sk[64];
	struct eml_evidence_session s;
};

static void
world_open_cfg(struct world *w, const struct eml_attest_sim_config *cfg)
{
	struct eml_buf pem;

	memset(w, 0, sizeof(*w));
	assert_eml_ok(eml_attest_sim_open(NULL, cfg, &w->sim));
	eml_buf_init(&pem, 65536);
	assert_eml_ok(eml_attest_sim_root_pem(w->sim, &pem));
	assert_eml_ok(eml_attest_root_load(pem.data, pem.len, &w->root));
	eml_buf_free(&pem);
	crypto_sign_keypair(w->pk, w->sk);
	randombytes_buf(w->s.id, sizeof(w->s.id));
	randombytes_buf(w->s.transcript_hash, 32);
	randombytes_buf(w->s.policy_digest, 32);
	w->s.started_ms = (int64_t)time(NULL) * 1000 - 1000;
	w->s.ended_ms = w->s.started_ms + 500;
	w->s.final = true;
	w->s.request_count = 1;
	eml_evidence_exchange_init(w->s.exchange_hash);
	eml_evidence_exchange_add(w->s.exchange_hash, (const uint8_t *)"in", 2,
	    (const uint8_t *)"out", 3);
	w->s.n_models = 1;
	memset(w->s.models[0].content_id, 0x11, 32);
	memset(w->s.models[0].topology_digest, 0x22, 32);
	w->s.has_client_identity = true;
	memset(w->s.client_identity, 0x33, 32);
}

static void
world_open(struct world *w)
{
	world_open_cfg(w, NULL);
}

static void
world_close(struct world *w)
{
	eml_attest_root_free(w->root);
	eml_attest_sim_free(w->sim);
}

/* An artifact for w->s, its document made at at_ms with this nonce. */
static eml_err
make(struct world *w, uint64_t at_ms, const uint8_t nonce[32], struct eml_buf *out)
{
	struct eml_buf doc;
	eml_err rc;

	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	assert_eml_ok(eml_attest_sim_attest(w->sim, at_ms, w->s.policy_digest, 32, nonce, 32,
	    w->pk, 32, &doc));
	rc = eml_evidence_build(&w->s, "sim", doc.data, doc.len, w->pk, w->sk, out);
	eml_buf_free(&doc);
	return rc;
}

static eml_err
verify(struct world *w, const struct eml_buf *art, enum eml_attest_at at)
{
	struct eml_evidence *ev = eml_calloc(1, sizeof(*ev));
	struct eml_attest_doc *doc = eml_calloc(1, sizeof(*doc));
	struct eml_evidence_check chk;
	eml_err rc;

	assert_non_null(ev);
	assert_non_null(doc);
	memset(&chk, 0, sizeof(chk));
	chk.root = w->root;
	chk.at = at;
	rc = eml_evidence_verify(art->data, art->len, &chk, ev, doc);
	if (rc == EML_OK) {
		assert_memory_equal(ev->session.id, w->s.id, 16);
		assert_true(ev->session.has_client_identity);
		assert_memory_equal(ev->session.client_identity, w->s.client_identity, 32);
		assert_int_equal(ev->session.n_models, 1);
		assert_true(ev->session.request_count == 1);
	}
	eml_free(ev);
	eml_free(doc);
	return rc;
}

/* The two halves (a client hashes its request while it waits) give the
 * one-call step; an aborted half leaves h as it was. */
static void
exchange_in_two_halves(void **state)
{
	uint8_t h[32], want[32], in[300], out[5] = { 'r', 'e', 's', 'p', '!' };
	uint8_t buf[32 + 8 + sizeof(in) + 8 + sizeof(out)];
	struct eml_evidence_x x;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	eml_evidence_exchange_init(h);
	memcpy(want, h, 32);
	memset(&x, 0, sizeof(x));
	eml_evidence_exchange_abort(&x); /* zeroed: a no-op */
	eml_evidence_exchange_begin(&x, h, in, sizeof(in));
	eml_evidence_exchange_abort(&x);
	assert_memory_equal(h, want, 32);
	/* h1 = SHA-256(h0 | u64be(300) | in | u64be(5) | out), worked apart */
	memcpy(buf, h, 32);
	memset(buf + 32, 0, 8);
	buf[38] = (uint8_t)(sizeof(in) >> 8);
	buf[39] = (uint8_t)sizeof(in);
	memcpy(buf + 40, in, sizeof(in));
	memset(buf + 40 + sizeof(in), 0, 8);
	buf[40 + sizeof(in) + 7] = sizeof(out);
	memcpy(buf + 48 + sizeof(in), out, sizeof(out));
	sha256_parts(want, buf, sizeof(buf), NULL, 0, NULL, 0);
	eml_evidence_exchange_begin(&x, h, in, sizeof(in));
	eml_evidence_exchange_end(&x, h, out, sizeof(out));
	assert_null(x.md);
	assert_memory_equal(h, want, 32);
	/* and the one-call step from the same h0 agrees */
	eml_evidence_exchange_init(h);
	eml_evidence_exchange_add(h, in, sizeof(in), out, sizeof(out));
	assert_memory_equal(h, want, 32);
}

static void
build_then_verify(void **state)
{
	struct world w;
	struct eml_buf art;
	uint8_t bind[32];

	(void)state;
	world_open(&w);
	eml_buf_init(&art, EML_EVIDENCE_MAX);
	eml_evidence_binding(w.s.id, w.s.transcript_hash, bind);
	assert_eml_ok(make(&w, (uint64_t)w.s.ended_ms, bind, &art));
	assert_eml_ok(verify(&w, &art, EML_ATTEST_AT_DOC));
	assert_eml_ok(verify(&w, &art, EML_ATTEST_AT_NOW));
	eml_buf_free(&art);
	world_close(&w);
}

/* The enclave refuses to sign an artifact around a document that binds
 * another session: no verifier would accept it. */
static void
build_refuses_a_foreign_document(void **state)
{
	struct world w;
	struct eml_buf art;
	uint8_t other[32];

	(void)state;
	world_open(&w);
	eml_buf_init(&art, EML_EVIDENCE_MAX);
	memset(other, 0x5a, sizeof(other));
	assert_eml(make(&w, 0, other, &art), EML_ERR_EVIDENCE);
	eml_buf_free(&art);
	world_close(&w);
}

/* A document made long before the session started: its time is outside
 * the session window (even though it chains at its own time). */
static void
verify_refuses_a_document_outside_the_session(void **state)
{
	struct world w;
	struct eml_buf art;
	uint8_t bind[32];

	(void)state;
	world_open(&w);
	eml_buf_init(&art, EML_EVIDENCE_MAX);
	eml_evidence_binding(w.s.id, w.s.transcript_hash, bind);
	assert_eml_ok(make(&w, (uint64_t)(w.s.started_ms - 3600 * 1000), bind, &art));
	assert_eml(verify(&w, &art, EML_ATTEST_AT_DOC), EML_ERR_EVIDENCE_SESSION);
	assert_non_null(strstr(eml_err_detail(), "session.started_at"));
	eml_buf_free(&art);
	world_close(&w);
}

/* A debug-mode enclave (PCR0-2 zero) is refused unless the policy says
 * allow_debug. */
static void
debug_enclave_needs_allow_debug(void **state)
{
	struct world w;
	struct eml_attest_sim_config cfg;
	struct eml_buf art;
	struct eml_evidence *ev = eml_calloc(1, sizeof(*ev));
	struct eml_attest_doc *doc = eml_calloc(1, sizeof(*doc));
	struct eml_attest_policy pol;
	struct eml_evidence_check chk;
	uint8_t bind[32];

	(void)state;
	assert_non_null(ev);
	assert_non_null(doc);
	eml_attest_sim_config_default(&cfg);
	memset(cfg.pcr, 0, sizeof(cfg.pcr));
	world_open_cfg(&w, &cfg);
	eml_buf_init(&art, EML_EVIDENCE_MAX);
	eml_evidence_binding(w.s.id, w.s.transcript_hash, bind);
	assert_eml_ok(make(&w, 0, bind, &art));
	assert_eml(verify(&w, &art, EML_ATTEST_AT_DOC), EML_ERR_ATTEST_DEBUG);
	eml_attest_policy_init(&pol);
	pol.allow_debug = true;
	memset(&chk, 0, sizeof(chk));
	chk.root = w.root;
	chk.at = EML_ATTEST_AT_DOC;
	chk.policy = &pol;
	assert_eml_ok(eml_evidence_verify(art.data, art.len, &chk, ev, doc));
	eml_free(ev);
	eml_free(doc);
	eml_buf_free(&art);
	world_close(&w);
}

/* Field forms the end-to-end test does not reach. */
static void
parse_refuses_bad_forms(void **state)
{
	struct world w;
	struct eml_buf art;
	struct eml_evidence *ev = eml_calloc(1, sizeof(*ev));
	uint8_t bind[32];
	static const struct {
		const char *from, *to, *field;
	} t[] = {
		{ "\"started_at\":\"", "\"started_at\":\"2026-02-31T00:00:00.000Z\",\"x\":\"",
		    "unknown field" },
		{ "\"request_count\":1", "\"request_count\":1.5", "session.request_count" },
		{ "\"request_count\":1", "\"request_count\":-1", "session.request_count" },
		{ "\"request_count\":1", "\"request_count\":\"1\"", "session.request_count" },
		{ "\"final\":true", "\"final\":1", "session.final" },
		{ "\"provider\":\"aws-nitro\"", "\"provider\":\"AWS-NITRO\"", "tee.provider" },
	};

	(void)state;
	assert_non_null(ev);
	world_open(&w);
	eml_buf_init(&art, EML_EVIDENCE_MAX);
	eml_evidence_binding(w.s.id, w.s.transcript_hash, bind);
	assert_eml_ok(make(&w, 0, bind, &art));
	assert_eml_ok(eml_evidence_parse(art.data, art.len, ev));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *s = (const char *)art.data;
		const char *at = strstr(s, t[i].from);
		struct eml_buf m;

		assert_non_null(at);
		eml_buf_init(&m, EML_EVIDENCE_MAX * 2);
		assert_eml_ok(eml_buf_append(&m, s, (size_t)(at - s)));
		assert_eml_ok(eml_buf_append(&m, t[i].to, strlen(t[i].to)));
		at += strlen(t[i].from);
		assert_eml_ok(eml_buf_append(&m, at, art.len - (size_t)(at - s)));
		assert_eml(eml_evidence_parse(m.data, m.len, ev), EML_ERR_EVIDENCE_FIELD);
		if (strstr(eml_err_detail(), t[i].field) == NULL)
			fail_msg("case %zu: detail '%s' does not name %s", i, eml_err_detail(),
			    t[i].field);
		eml_buf_free(&m);
	}
	/* A real date is required: 31 February is refused. */
	{
		char *s = (char *)art.data;
		char *p = strstr(s, "\"started_at\":\"");

		assert_non_null(p);
		memcpy(p + 14, "2026-02-31T00:00:00.000Z", 24);
		assert_eml(eml_evidence_parse(art.data, art.len, ev), EML_ERR_EVIDENCE_FIELD);
		assert_non_null(strstr(eml_err_detail(), "session.started_at"));
	}
	eml_free(ev);
	eml_buf_free(&art);
	world_close(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(derived_hashes_match_the_spec),
		cmocka_unit_test(exchange_in_two_halves),
		cmocka_unit_test(build_then_verify),
		cmocka_unit_test(build_refuses_a_foreign_document),
		cmocka_unit_test(verify_refuses_a_document_outside_the_session),
		cmocka_unit_test(parse_refuses_bad_forms),
		cmocka_unit_test(debug_enclave_needs_allow_debug),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "eml_attest_producer.h"

#include <string.h>

#include "eml_attest.h"
#include "eml_attest_sim.h"
#include "eml_nsm.h"

/* Larger than a real NSM answers per GetRandom call (NOTES §4.2). */
#define RANDOM_CHUNK 256

eml_err
eml_attest_produce(struct eml_attest_producer *p, const uint8_t *user_data, size_t user_data_len,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key, size_t public_key_len,
    struct eml_buf *doc)
{
	EML_ENSURE_REF(p);
	EML_ENSURE_REF(p->attest);
	EML_ENSURE_REF(doc);
	if ((user_data != NULL && user_data_len > EML_ATTEST_OPT_MAX) ||
	    (nonce != NULL && nonce_len > EML_ATTEST_OPT_MAX) ||
	    (public_key != NULL && public_key_len > EML_ATTEST_OPT_MAX)) {
		eml_err_set_detail("user_data, nonce and public_key are at most 1024 bytes each");
		EML_BAIL(EML_ERR_ATTEST_NSM_INPUT);
	}
	return p->attest(p->ctx, user_data, user_data_len, nonce, nonce_len, public_key,
	    public_key_len, doc);
}

eml_err
eml_attest_describe_pcr(struct eml_attest_producer *p, unsigned index, bool *locked,
    uint8_t data[64], size_t *len)
{
	EML_ENSURE_REF(p);
	EML_ENSURE_REF(p->describe_pcr);
	EML_ENSURE_REF(locked);
	EML_ENSURE_REF(data);
	EML_ENSURE_REF(len);
	return p->describe_pcr(p->ctx, index, locked, data, len);
}

eml_err
eml_attest_get_random(struct eml_attest_producer *p, uint8_t *out, size_t n)
{
	EML_ENSURE_REF(p);
	EML_ENSURE_REF(p->get_random);
	EML_ENSURE(out != NULL || n == 0, EML_ERR_NULL);
	while (n > 0) {
		size_t k = n < RANDOM_CHUNK ? n : RANDOM_CHUNK;

		EML_GUARD(p->get_random(p->ctx, out, k));
		out += k;
		n -= k;
	}
	return EML_OK;
}

void
eml_attest_producer_close(struct eml_attest_producer *p)
{
	if (p == NULL)
		return;
	if (p->close != NULL)
		p->close(p->ctx);
	memset(p, 0, sizeof(*p));
}

eml_err
eml_attest_producer_open(const char *name, const char *arg, struct eml_attest_producer *p)
{
	EML_ENSURE_REF(name);
	EML_ENSURE_REF(p);
	memset(p, 0, sizeof(*p));
	if (strcmp(name, "nsm") == 0) {
		struct eml_nsm *nsm = NULL;

		EML_GUARD(eml_nsm_open(arg, &nsm));
		eml_nsm_producer(nsm, p);
		return EML_OK;
	}
	if (strcmp(name, "sim") == 0) {
		struct eml_attest_sim *sim = NULL;

		EML_GUARD(eml_attest_sim_open(arg, NULL, &sim));
		eml_attest_sim_producer(sim, p);
		return EML_OK;
	}
	eml_err_set_detail("attestation producer \"%.16s\": want nsm or sim", name);
	EML_BAIL(EML_ERR_CONFIG);
}

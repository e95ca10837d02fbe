/* Evidence inside the enclave: key, per-session record, artifact. */
#include "eml_agent_evidence.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

#include "attestation/eml_attest_sim.h"
#include "eml_agent_int.h"
#include "eml_channel.h"
#include "eml_log.h"
#include "eml_mem.h"

eml_err
eml_agent_evidence_open(struct eml_agent *a)
{
	EML_ENSURE_REF(a);
	a->ev_sk = eml_secure_alloc(EML_EVIDENCE_SK_LEN);
	EML_ENSURE(a->ev_sk != NULL, EML_ERR_NOMEM);
	/* The key is born here and never leaves: only its public half goes
	 * out, inside attestation documents. */
	if (crypto_sign_keypair(a->ev_pk, a->ev_sk) != 0) {
		eml_agent_evidence_close(a);
		EML_BAIL(EML_ERR_CRYPTO);
	}
	{
		uint8_t id[32];
		char hex[17];

		eml_evidence_pubkey_id(a->ev_pk, id);
		eml_hex_encode(hex, id, 8);
		EML_LOG_INFO("agent.evidence_key", NULL, EML_F_STR("pubkey_id_prefix", hex),
		    EML_F_I64("clock_offset_ms", a->cfg.sim_evidence_offset_ms));
	}
	return EML_OK;
}

void
eml_agent_evidence_close(struct eml_agent *a)
{
	if (a == NULL || a->ev_sk == NULL)
		return;
	sodium_memzero(a->ev_sk, EML_EVIDENCE_SK_LEN);
	eml_secure_free(a->ev_sk);
	a->ev_sk = NULL;
}

static int64_t
ev_now(const struct eml_agent *a)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + a->cfg.sim_evidence_offset_ms;
}

void
eml_agent_ev_start(const struct eml_agent *a, struct eml_agent_ev *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->started_ms = ev_now(a);
	eml_evidence_exchange_init(ev->exchange_hash);
}

void
eml_agent_ev_exchange(struct eml_agent_ev *ev, const uint8_t *in, size_t in_len,
    const uint8_t *out, size_t out_len)
{
	eml_evidence_exchange_add(ev->exchange_hash, in, in_len, out, out_len);
}

eml_err
eml_agent_ev_model(struct eml_agent_ev *ev, const uint8_t content_id[32],
    const uint8_t td[32])
{
	for (size_t i = 0; i < ev->n_models; i++)
		if (sodium_memcmp(ev->models[i].content_id, content_id, 32) == 0 &&
		    sodium_memcmp(ev->models[i].topology_digest, td, 32) == 0)
			return EML_OK;
	if (ev->n_models == EML_EVIDENCE_MODELS_MAX) {
		eml_err_set_detail("at most %d distinct models per session",
		    EML_EVIDENCE_MODELS_MAX);
		EML_BAIL(EML_ERR_POLICY);
	}
	EML_MEMCPY(ev->models[ev->n_models].content_id, content_id, 32);
	EML_MEMCPY(ev->models[ev->n_models].topology_digest, td, 32);
	ev->n_models++;
	return EML_OK;
}

/* The evidence document: sim with a shifted clock asks the simulator
 * for that instant; otherwise the producer as for a handshake. */
static eml_err
attest_at(struct eml_agent *a, int64_t at_ms, const uint8_t nonce[32], struct eml_buf *doc)
{
	eml_err rc;

	if (a->cfg.producer != EML_AGENT_ATTEST_SIM || a->cfg.sim_evidence_offset_ms == 0 ||
	    at_ms <= 0)
		return eml_agent_attest(a, nonce, 32, a->ev_pk, sizeof(a->ev_pk), doc);
	pthread_mutex_lock(&a->attest_mu);
	rc = eml_attest_sim_attest(a->producer.ctx, (uint64_t)at_ms, a->cfg.policy.digest,
	    sizeof(a->cfg.policy.digest), nonce, 32, a->ev_pk, sizeof(a->ev_pk), doc);
	pthread_mutex_unlock(&a->attest_mu);
	return rc;
}

eml_err
eml_agent_evidence_make(struct eml_agent *a, const struct eml_agent_ev *ev,
    const struct eml_channel *ch, uint64_t requests, const uint8_t *nonce, size_t nonce_len,
    bool final, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_evidence_session *s = NULL;
	struct eml_buf doc;
	uint8_t bind[32];

	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	EML_ENSURE_REF(a);
	EML_ENSURE(a->ev_sk != NULL && nonce_len <= EML_EVIDENCE_NONCE_MAX, EML_ERR_INTERNAL);
	s = eml_calloc(1, sizeof(*s));
	if (s == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = eml_channel_session_id(ch, s->id)) != EML_OK ||
	    (rc = eml_channel_transcript_hash(ch, s->transcript_hash)) != EML_OK)
		goto out;
	s->started_ms = ev->started_ms;
	s->ended_ms = ev_now(a);
	s->final = final;
	s->request_count = requests;
	EML_MEMCPY(s->exchange_hash, ev->exchange_hash, 32);
	s->n_models = ev->n_models;
	EML_MEMCPY(s->models, ev->models, ev->n_models * sizeof(ev->models[0]));
	EML_MEMCPY(s->policy_digest, a->cfg.policy.digest, 32);
	s->nonce_len = nonce_len;
	EML_MEMCPY(s->nonce, nonce, nonce_len);
	eml_evidence_binding(s->id, s->transcript_hash, bind);
	if ((rc = attest_at(a, s->ended_ms, bind, &doc)) != EML_OK)
		goto out;
	rc = eml_evidence_build(s, a->producer.name, doc.data, doc.len, a->ev_pk, a->ev_sk, out);
out:
	if (s != NULL)
		eml_free_wipe(s, sizeof(*s));
	eml_buf_free_nowipe(&doc); /* public */
	return rc;
}

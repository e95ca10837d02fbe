/* The agent's attestation producer: sim or nsm, chosen at start-up. */
#include <string.h>

#include "attestation/eml_attest_sim.h"
#include "eml_agent_int.h"
#include "eml_log.h"

eml_err
eml_agent_attest_open(struct eml_agent *a)
{
	struct eml_attest_sim *sim = NULL;

	EML_ENSURE_REF(a);
	EML_ENSURE(pthread_mutex_init(&a->attest_mu, NULL) == 0, EML_ERR_INTERNAL);
	a->attest_ok = true;
	switch (a->cfg.producer) {
	case EML_AGENT_ATTEST_SIM:
		EML_GUARD(eml_attest_sim_open(a->cfg.sim_dir, NULL, &sim));
		eml_attest_sim_producer(sim, &a->producer);
		break;
	case EML_AGENT_ATTEST_NSM:
		eml_err_set_detail("the nsm producer is not in this build");
		EML_BAIL(EML_ERR_UNSUPPORTED);
	default:
		EML_BAIL(EML_ERR_CONFIG);
	}
	EML_LOG_INFO("agent.attest", NULL, EML_F_STR("producer", a->producer.name),
	    EML_F_BOOL("sim_ephemeral_root",
		a->cfg.producer == EML_AGENT_ATTEST_SIM && a->cfg.sim_dir == NULL));
	return EML_OK;
}

void
eml_agent_attest_close(struct eml_agent *a)
{
	if (a == NULL || !a->attest_ok)
		return;
	if (a->producer.close != NULL)
		eml_attest_producer_close(&a->producer);
	pthread_mutex_destroy(&a->attest_mu);
	a->attest_ok = false;
}

eml_err
eml_agent_attest(struct eml_agent *a, const uint8_t *nonce, size_t nonce_len,
    const uint8_t *public_key, size_t public_key_len, struct eml_buf *doc)
{
	eml_err rc;

	EML_ENSURE_REF(a);
	pthread_mutex_lock(&a->attest_mu);
	rc = eml_attest_produce(&a->producer, a->cfg.policy.digest, sizeof(a->cfg.policy.digest),
	    nonce, nonce_len, public_key, public_key_len, doc);
	pthread_mutex_unlock(&a->attest_mu);
	return rc;
}

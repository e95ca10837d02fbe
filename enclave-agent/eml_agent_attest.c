/* The agent's attestation producer: sim or nsm, chosen at start-up. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attestation/eml_attest_sim.h"
#include "attestation/eml_nsm.h"
#include "eml_agent_int.h"
#include "eml_jobseal.h"
#include "eml_log.h"
#include "eml_mem.h"

#include <jansson.h>
#include <sodium.h>

#define SIM_PCRS_MAX 65536

/* PCR0..15 from an image's measurements (eml_agent.h, sim_pcrs). Every
 * key must be PCR<n> with 48 bytes of hex; keys other than PCRs are
 * allowed only as nitro-cli's HashAlgorithm. */
static eml_err
load_sim_pcrs(const char *path, struct eml_attest_sim_config *cfg)
{
	json_error_t jerr;
	json_t *root, *m;
	const char *k;
	json_t *v;
	unsigned set = 0;
	eml_err rc = EML_OK;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		eml_err_set_detail("--sim-pcrs %s: %s", path, jerr.text);
		EML_BAIL(EML_ERR_CONFIG);
	}
	m = json_object_get(root, "Measurements");
	if (m == NULL)
		m = root;
	if (!json_is_object(m)) {
		eml_err_set_detail("--sim-pcrs %s: not an object", path);
		EML_FAIL(rc, EML_ERR_CONFIG);
	}
	json_object_foreach(m, k, v) {
		unsigned idx = 0;
		char end = 0;

		if (strcmp(k, "HashAlgorithm") == 0)
			continue;
		if (sscanf(k, "PCR%u%c", &idx, &end) != 1 || idx >= EML_ATTEST_SIM_PCRS ||
		    !json_is_string(v) ||
		    eml_hex_decode(cfg->pcr[idx], 48, json_string_value(v)) != EML_OK) {
			eml_err_set_detail("--sim-pcrs %s: %s: want PCR0..PCR15 = 96 hex digits",
			    path, k);
			EML_FAIL(rc, EML_ERR_CONFIG);
		}
		set++;
	}
	if (set == 0) {
		eml_err_set_detail("--sim-pcrs %s: no PCR", path);
		EML_FAIL(rc, EML_ERR_CONFIG);
	}
out:
	json_decref(root);
	return rc;
}

/*
 * STYLE §32: inside an enclave the kernel RNG starts with little entropy;
 * mix NSM randomness into it before any key is made. Writing to
 * /dev/urandom mixes without crediting, which needs no privilege. A
 * failure here is fatal: keys from a starved RNG are not keys.
 */
static eml_err
seed_from_nsm(struct eml_attest_producer *p)
{
	uint8_t seed[256];
	eml_err rc = EML_ERR_INTERNAL;
	int fd = -1;
	ssize_t w;

	if ((rc = eml_attest_get_random(p, seed, sizeof(seed))) != EML_OK)
		goto out;
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("/dev/urandom: %s", strerror(errno));
		EML_FAIL(rc, EML_ERR_CRYPTO_RANDOM);
	}
	w = write(fd, seed, sizeof(seed));
	if (w != (ssize_t)sizeof(seed)) {
		eml_err_set_detail("/dev/urandom: short write");
		EML_FAIL(rc, EML_ERR_CRYPTO_RANDOM);
	}
	rc = EML_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

eml_err
eml_agent_attest_open(struct eml_agent *a)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_nsm *nsm = NULL;

	EML_ENSURE_REF(a);
	EML_ENSURE(pthread_mutex_init(&a->attest_mu, NULL) == 0, EML_ERR_INTERNAL);
	a->attest_ok = true;
	switch (a->cfg.producer) {
	case EML_AGENT_ATTEST_SIM: {
		struct eml_attest_sim_config sc;

		eml_attest_sim_config_default(&sc);
		if (a->cfg.sim_pcrs != NULL)
			EML_GUARD(load_sim_pcrs(a->cfg.sim_pcrs, &sc));
		EML_GUARD(eml_attest_sim_open(a->cfg.sim_dir, &sc, &sim));
		eml_attest_sim_producer(sim, &a->producer);
		break;
	}
	case EML_AGENT_ATTEST_NSM:
		EML_GUARD(eml_nsm_open(NULL, &nsm));
		eml_nsm_producer(nsm, &a->producer);
		EML_GUARD(seed_from_nsm(&a->producer));
		break;
	default:
		EML_BAIL(EML_ERR_CONFIG);
	}
	EML_LOG_INFO("agent.attest", NULL, EML_F_STR("producer", a->producer.name),
	    EML_F_BOOL("sim_ephemeral_root",
		a->cfg.producer == EML_AGENT_ATTEST_SIM && a->cfg.sim_dir == NULL),
	    EML_F_BOOL("sim_image_pcrs", a->cfg.sim_pcrs != NULL));
	return EML_OK;
}

void
eml_agent_attest_start(struct eml_agent *a)
{
	if (a == NULL || !a->attest_ok || a->cfg.producer != EML_AGENT_ATTEST_SIM)
		return;
	/* The next document's signature nonce made while idle (sim only: the
	 * NSM signs in the device). Without it, signed in full. */
	pthread_mutex_lock(&a->attest_mu);
	if (eml_attest_sim_presign(a->producer.ctx) != EML_OK) {
		EML_LOG_WARN("agent.attest_presign", NULL, EML_F_ERR(EML_ERR_INTERNAL));
		eml_err_clear_detail();
	}
	pthread_mutex_unlock(&a->attest_mu);
}

void
eml_agent_attest_refill(struct eml_agent *a)
{
	if (a == NULL || !a->attest_ok || a->cfg.producer != EML_AGENT_ATTEST_SIM)
		return;
	pthread_mutex_lock(&a->attest_mu);
	eml_attest_sim_presign_refill(a->producer.ctx);
	pthread_mutex_unlock(&a->attest_mu);
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

/*
 * The job key: the secret from cfg.job_key_path (exactly 32 bytes, a
 * regular file not readable by group or others), or a fresh one. Inside a
 * real enclave the fleet secret would come from KMS under an attestation
 * condition; the file is how the simulator fleet shares it.
 */
eml_err
eml_agent_job_key_open(struct eml_agent *a)
{
	eml_err rc = EML_ERR_INTERNAL;
	int fd = -1;
	struct stat st;
	ssize_t r;

	EML_ENSURE_REF(a);
	a->job_sk = eml_secure_alloc(32);
	if (a->job_sk == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (a->cfg.job_key_path == NULL) {
		rc = eml_jobseal_keypair(a->job_pk, a->job_sk);
		goto out;
	}
	fd = open(a->cfg.job_key_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 32 ||
	    (st.st_mode & 077) != 0) {
		eml_err_set_detail("--job-key %s: want a 32-byte file of mode 0600",
		    a->cfg.job_key_path);
		EML_FAIL(rc, EML_ERR_CONFIG);
	}
	r = read(fd, a->job_sk, 32);
	if (r != 32) {
		eml_err_set_detail("--job-key: short read");
		EML_FAIL(rc, EML_ERR_CONFIG);
	}
	rc = eml_jobseal_public(a->job_sk, a->job_pk);
out:
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

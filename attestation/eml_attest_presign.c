/*
 * Precomputed ECDSA nonces for the simulator (eml_attest_presign.h).
 * OpenSSL's documented precomputation is ECDSA_sign_setup and
 * ECDSA_do_sign_ex, deprecated with the rest of EC_KEY in 3.0 but still
 * there and still what ECDSA runs underneath; this file alone uses them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "eml_attest_presign.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "eml_attest_encode.h"
#include "eml_mem.h"

/* Pairs kept ready: with two, a session that starts while the pair for
 * it is still being made (back-to-back handshakes: the refill asked at
 * the last session's end runs during the next one's connect) takes the
 * other one instead of waiting. */
#define PRESIGN_DEPTH 2

struct eml_presign {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool stop;
	/* pairs still to make, counted when asked (eml_presign_refill): a
	 * bare "fill up" flag kept the thread filling while a signer took
	 * pairs as they came, so one ask made more than PRESIGN_DEPTH */
	unsigned wanted;
	bool busy;  /* the thread is making one */
	bool dead;  /* the thread gave up: signatures in full */
	EVP_PKEY *key;    /* the fallback's */
	EC_KEY *sign_ec;  /* the signer's */
	EC_KEY *setup_ec; /* the thread's own copy */
	/* the ready pairs, [0, ready) (k itself is not kept) */
	BIGNUM *kinv[PRESIGN_DEPTH], *r[PRESIGN_DEPTH];
	unsigned ready;
};

static void
clear_pair(BIGNUM **kinv, BIGNUM **r)
{
	BN_clear_free(*kinv);
	BN_clear_free(*r);
	*kinv = NULL;
	*r = NULL;
}

static void *
presign_main(void *arg)
{
	struct eml_presign *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		BIGNUM *kinv = NULL, *r = NULL;
		int ok;

		/* Only when asked: a refill right after a signature would run
		 * while the client verifies that very document. Once asked,
		 * up to PRESIGN_DEPTH, one after the other. */
		if (p->wanted == 0 || p->ready >= PRESIGN_DEPTH) {
			p->wanted = 0;
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		p->wanted--;
		p->busy = true;
		pthread_mutex_unlock(&p->mu);
		ok = ECDSA_sign_setup(p->setup_ec, NULL, &kinv, &r);
		ERR_clear_error();
		pthread_mutex_lock(&p->mu);
		p->busy = false;
		if (ok != 1 || p->stop) {
			clear_pair(&kinv, &r);
			pthread_cond_broadcast(&p->cv); /* a waiting signer */
			if (ok != 1)
				break; /* signatures are made in full from now on */
			continue;
		}
		p->kinv[p->ready] = kinv;
		p->r[p->ready] = r;
		p->ready++;
		pthread_cond_broadcast(&p->cv);
	}
	p->dead = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

eml_err
eml_presign_new(EVP_PKEY *key, struct eml_presign **out)
{
	struct eml_presign *p;

	EML_ENSURE_REF(key);
	EML_ENSURE_REF(out);
	*out = NULL;
	p = eml_calloc(1, sizeof(*p));
	EML_ENSURE(p != NULL, EML_ERR_NOMEM);
	p->key = key;
	p->wanted = PRESIGN_DEPTH; /* the first ones at once */
	p->sign_ec = EVP_PKEY_get1_EC_KEY(key);
	p->setup_ec = p->sign_ec != NULL ? EC_KEY_dup(p->sign_ec) : NULL;
	if (p->sign_ec == NULL || p->setup_ec == NULL) {
		ERR_clear_error();
		EC_KEY_free(p->sign_ec);
		EC_KEY_free(p->setup_ec);
		eml_free(p);
		EML_BAIL(EML_ERR_CRYPTO);
	}
	if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_cond_init(&p->cv, NULL) != 0 ||
	    pthread_create(&p->th, NULL, presign_main, p) != 0) {
		EC_KEY_free(p->sign_ec);
		EC_KEY_free(p->setup_ec);
		eml_free(p);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	*out = p;
	return EML_OK;
}

void
eml_presign_refill(struct eml_presign *p)
{
	unsigned have;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	have = p->ready + (p->busy ? 1u : 0u) + p->wanted;
	if (have < PRESIGN_DEPTH && !p->dead) {
		p->wanted += PRESIGN_DEPTH - have;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

void
eml_presign_free(struct eml_presign *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	(void)pthread_join(p->th, NULL);
	for (unsigned i = 0; i < PRESIGN_DEPTH; i++)
		clear_pair(&p->kinv[i], &p->r[i]);
	EC_KEY_free(p->sign_ec);
	EC_KEY_free(p->setup_ec);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	eml_free_wipe(p, sizeof(*p));
}

bool
eml_presign_wait_ready(struct eml_presign *p, int ms)
{
	struct timespec until;
	bool ready;

	if (p == NULL)
		return false;
	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	while (p->ready == 0 && !p->stop &&
	    pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0)
		;
	ready = p->ready > 0;
	pthread_mutex_unlock(&p->mu);
	return ready;
}

eml_err
eml_presign_sign(struct eml_presign *p, const uint8_t *msg, size_t n,
    uint8_t sig[EML_ATTEST_SIG_LEN], bool *used)
{
	eml_err rc = EML_ERR_INTERNAL;
	BIGNUM *kinv = NULL, *r = NULL;
	ECDSA_SIG *es = NULL;
	uint8_t dg[48];
	unsigned int dl = 0;

	EML_ENSURE_REF(p);
	EML_ENSURE_REF(used);
	*used = false;
	/* Taken, not copied: no other signature can see this pair. With none
	 * ready, one under way (or asked for) is waited for: the rest of its
	 * work is less than a signature in full. The next is made at the
	 * next eml_presign_refill, not now. */
	pthread_mutex_lock(&p->mu);
	while (p->ready == 0 && (p->busy || p->wanted > 0) && !p->stop && !p->dead)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->ready > 0) {
		p->ready--;
		kinv = p->kinv[p->ready];
		r = p->r[p->ready];
		p->kinv[p->ready] = NULL;
		p->r[p->ready] = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	if (kinv == NULL)
		return eml_attest_es384_sign(p->key, msg, n, sig);
	if (EVP_Digest(msg, n, dg, &dl, EVP_sha384(), NULL) != 1 || dl != sizeof(dg))
		EML_FAIL(rc, EML_ERR_CRYPTO);
	es = ECDSA_do_sign_ex(dg, (int)dl, kinv, r, p->sign_ec);
	if (es == NULL) {
		/* s = 0 with this k (negligible) or out of memory: in full */
		clear_pair(&kinv, &r);
		ERR_clear_error();
		return eml_attest_es384_sign(p->key, msg, n, sig);
	}
	if ((rc = eml_attest_sig_raw(es, sig)) != EML_OK)
		goto out;
	*used = true;
out:
	clear_pair(&kinv, &r);
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return rc;
}

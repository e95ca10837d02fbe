#include "eml_attest_sim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "eml_attest_encode.h"
#include "eml_attest_presign.h"
#include "eml_file.h"
#include "eml_mem.h"

/* Lifetimes observed on AWS chains (NOTES §2.3), in seconds. */
#define ROOT_LIFE (30LL * 365 * 86400)
#define REGIONAL_LIFE (20LL * 86400)
#define ZONAL_LIFE (6LL * 86400)
#define INSTANCE_LIFE (86400LL)
#define LEAF_LIFE (3LL * 3600)
/* Remake the chain when the leaf has less than this left. */
#define LEAF_MARGIN 600
#define REGION "eu-sim-1"

enum { CA_REGIONAL, CA_ZONAL, CA_INSTANCE, CA_N };

struct eml_attest_sim {
	struct eml_attest_sim_config cfg;
	EVP_PKEY *root_key;
	X509 *root;
	EVP_PKEY *ca_key[CA_N];
	X509 *ca[CA_N];
	EVP_PKEY *leaf_key;
	X509 *leaf;
	int64_t leaf_nb;
	int64_t leaf_na;
	/* eml_attest_sim_presign: the leaf key's precomputed nonces */
	bool presign_on;
	struct eml_presign *pre;
	uint64_t presigned, full;
};

void
eml_attest_sim_config_default(struct eml_attest_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (unsigned i = 0; i < 3; i++) {
		char label[40];

		(void)snprintf(label, sizeof(label), "EphemeralML simulator PCR%u", i);
		/* SHA-384 through OpenSSL: libsodium has no SHA-384. */
		(void)EVP_Digest(label, strlen(label), cfg->pcr[i], NULL, EVP_sha384(), NULL);
	}
	(void)snprintf(cfg->module_id, sizeof(cfg->module_id), "%s",
	    "i-0e31ae0000000000a-enc0e31ae0000000000");
	cfg->indefinite_map = true;
}

static eml_err
new_key(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (*out == NULL)
		EML_BAIL(EML_ERR_CRYPTO);
	return EML_OK;
}

static eml_err
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		EML_BAIL(EML_ERR_CRYPTO);
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	EML_ENSURE(ok == 1, EML_ERR_CRYPTO);
	return EML_OK;
}

struct cert_spec {
	const char *cn;
	int64_t not_before;
	int64_t life;
	const char *bc;  /* basicConstraints */
	const char *ku;  /* keyUsage */
	bool key_ids;    /* SKI (and AKI when issued by another) */
};

static eml_err
make_cert(const struct cert_spec *sp, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key,
    X509 **out)
{
	eml_err rc = EML_ERR_CRYPTO;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *serial = BN_new();
	time_t nb = (time_t)sp->not_before;
	time_t na = (time_t)(sp->not_before + sp->life);

	if (x == NULL || name == NULL || serial == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (X509_set_version(x, 2) != 1 || BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL ||
	    ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL || X509_set_pubkey(x, key) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	if (X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"EphemeralML", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)"Simulator", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)sp->cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	if ((rc = add_ext(x, issuer, NID_basic_constraints, sp->bc)) != EML_OK ||
	    (rc = add_ext(x, issuer, NID_key_usage, sp->ku)) != EML_OK)
		goto out;
	if (sp->key_ids && (rc = add_ext(x, issuer, NID_subject_key_identifier, "hash")) != EML_OK)
		goto out;
	if (sp->key_ids && issuer != NULL &&
	    (rc = add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")) != EML_OK)
		goto out;
	if (X509_sign(x, issuer_key, EVP_sha384()) <= 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	*out = x;
	x = NULL; /* transferred */
	rc = EML_OK;
out:
	ERR_clear_error();
	BN_free(serial);
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

static eml_err
make_root(int64_t now, EVP_PKEY **key, X509 **cert)
{
	struct cert_spec sp = {
		.cn = "eml-sim.nitro-enclaves",
		/* A week back, so tests can ask for documents dated days
		 * ago (archived evidence whose leaf has since expired). */
		.not_before = now - 7 * 86400,
		.life = ROOT_LIFE,
		.bc = "critical,CA:TRUE",
		.ku = "critical,digitalSignature,keyCertSign,cRLSign",
		.key_ids = true,
	};

	EML_GUARD(new_key(key));
	if (make_cert(&sp, NULL, *key, *key, cert) != EML_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
		EML_BAIL(EML_ERR_CRYPTO);
	}
	return EML_OK;
}

static void
free_chain(struct eml_attest_sim *sim)
{
	/* its thread holds the leaf key */
	eml_presign_free(sim->pre);
	sim->pre = NULL;
	for (int i = 0; i < CA_N; i++) {
		X509_free(sim->ca[i]);
		EVP_PKEY_free(sim->ca_key[i]);
		sim->ca[i] = NULL;
		sim->ca_key[i] = NULL;
	}
	X509_free(sim->leaf);
	EVP_PKEY_free(sim->leaf_key);
	sim->leaf = NULL;
	sim->leaf_key = NULL;
}

static void
rand_hex(char *dst, size_t nbytes)
{
	uint8_t r[16];

	randombytes_buf(r, nbytes);
	eml_hex_encode(dst, r, nbytes);
}

/* Regional, zonal, instance and leaf valid around instant t. */
static eml_err
make_chain(struct eml_attest_sim *sim, int64_t t)
{
	char cn[4][160];
	char h[33];
	struct cert_spec sp[4] = {
		{ cn[0], t - 3 * 86400, REGIONAL_LIFE, "critical,CA:TRUE,pathlen:2",
		    "critical,digitalSignature,keyCertSign,cRLSign", true },
		{ cn[1], t - 86400, ZONAL_LIFE, "critical,CA:TRUE,pathlen:1",
		    "critical,digitalSignature,keyCertSign,cRLSign", true },
		{ cn[2], t - 3600, INSTANCE_LIFE, "critical,CA:TRUE,pathlen:0",
		    "critical,keyCertSign", true },
		/* The AWS leaf: CA:false, non-critical keyUsage, no key ids. */
		{ cn[3], t - 60, LEAF_LIFE, "critical,CA:FALSE",
		    "digitalSignature,nonRepudiation", false },
	};
	X509 *issuer = sim->root;
	EVP_PKEY *issuer_key = sim->root_key;

	free_chain(sim);
	rand_hex(h, 8);
	(void)snprintf(cn[0], sizeof(cn[0]), "%s.%s.aws.nitro-enclaves", h, REGION);
	rand_hex(h, 8);
	(void)snprintf(cn[1], sizeof(cn[1]), "%s.zonal.%s.aws.nitro-enclaves", h, REGION);
	(void)snprintf(cn[2], sizeof(cn[2]), "%.19s.%s.aws.nitro-enclaves", sim->cfg.module_id,
	    REGION);
	(void)snprintf(cn[3], sizeof(cn[3]), "%.100s.%s.aws", sim->cfg.module_id, REGION);
	for (int i = 0; i < CA_N; i++) {
		EML_GUARD(new_key(&sim->ca_key[i]));
		EML_GUARD(make_cert(&sp[i], issuer, issuer_key, sim->ca_key[i], &sim->ca[i]));
		issuer = sim->ca[i];
		issuer_key = sim->ca_key[i];
	}
	EML_GUARD(new_key(&sim->leaf_key));
	EML_GUARD(make_cert(&sp[3], issuer, issuer_key, sim->leaf_key, &sim->leaf));
	sim->leaf_nb = sp[3].not_before;
	sim->leaf_na = sp[3].not_before + sp[3].life;
	if (sim->presign_on)
		EML_GUARD(eml_presign_new(sim->leaf_key, &sim->pre));
	return EML_OK;
}

static eml_err
pem_path(char *path, size_t n, const char *dir, const char *name)
{
	if ((size_t)snprintf(path, n, "%s/%s", dir, name) >= n) {
		eml_err_set_detail("sim CA path too long");
		EML_BAIL(EML_ERR_ATTEST_SIM_CA);
	}
	return EML_OK;
}

/* The PEM through the one file writer (eml_file_write: temporary, fsync,
 * link, so an existing file is never replaced and a half-written key never
 * appears). The PEM text of the key is wiped from memory after. */
static eml_err
write_pem_file(const char *dir, const char *name, mode_t mode, X509 *cert, EVP_PKEY *key)
{
	char path[4096];
	BIO *b = NULL;
	char *p = NULL;
	long n;
	int ok;
	eml_err rc;

	EML_GUARD(pem_path(path, sizeof(path), dir, name));
	b = BIO_new(BIO_s_mem());
	if (b == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	ok = cert != NULL ? PEM_write_bio_X509(b, cert)
			  : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &p);
	if (ok != 1 || n <= 0 || p == NULL) {
		BIO_free(b);
		eml_err_set_detail("%s: cannot encode PEM", path);
		EML_BAIL(EML_ERR_ATTEST_SIM_CA);
	}
	rc = eml_file_write(path, p, (size_t)n, (unsigned)mode, 0);
	OPENSSL_cleanse(p, (size_t)n);
	BIO_free(b);
	return rc;
}

eml_err
eml_attest_sim_ca_create(const char *dir)
{
	eml_err rc = EML_ERR_INTERNAL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	if (dir == NULL)
		EML_BAIL(EML_ERR_NULL);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		eml_err_set_detail("%s: %s", dir, strerror(errno));
		EML_BAIL(EML_ERR_ATTEST_SIM_CA);
	}
	{
		/* An existing CA is refused before a key is made (and named as
		 * existing, not as "missing or invalid"). */
		char path[4096];

		if ((rc = pem_path(path, sizeof(path), dir, EML_ATTEST_SIM_ROOT_KEY)) != EML_OK ||
		    (rc = eml_file_check_new(path, 0)) != EML_OK ||
		    (rc = pem_path(path, sizeof(path), dir, EML_ATTEST_SIM_ROOT_PEM)) != EML_OK ||
		    (rc = eml_file_check_new(path, 0)) != EML_OK)
			goto out;
	}
	if ((rc = make_root((int64_t)time(NULL), &key, &cert)) != EML_OK)
		goto out;
	/* Key first, so a half-made directory never has a root without key. */
	if ((rc = write_pem_file(dir, EML_ATTEST_SIM_ROOT_KEY, 0600, NULL, key)) != EML_OK ||
	    (rc = write_pem_file(dir, EML_ATTEST_SIM_ROOT_PEM, 0644, cert, NULL)) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static eml_err
load_ca(struct eml_attest_sim *sim, const char *dir)
{
	char path[4096];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, EML_ATTEST_SIM_ROOT_KEY);
	f = fopen(path, "re");
	if (f == NULL) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_ATTEST_SIM_CA);
	}
	sim->root_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	(void)fclose(f);
	(void)snprintf(path, sizeof(path), "%s/%s", dir, EML_ATTEST_SIM_ROOT_PEM);
	f = fopen(path, "re");
	if (f == NULL) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_ATTEST_SIM_CA);
	}
	sim->root = PEM_read_X509(f, NULL, NULL, NULL);
	(void)fclose(f);
	if (sim->root_key == NULL || sim->root == NULL ||
	    X509_check_private_key(sim->root, sim->root_key) != 1) {
		ERR_clear_error();
		eml_err_set_detail("%s: root.pem and root.key do not form a key pair", dir);
		EML_BAIL(EML_ERR_ATTEST_SIM_CA);
	}
	return EML_OK;
}

eml_err
eml_attest_sim_open(const char *dir, const struct eml_attest_sim_config *cfg,
    struct eml_attest_sim **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_attest_sim *sim = NULL;
	int64_t now = (int64_t)time(NULL);

	if (out == NULL)
		EML_BAIL(EML_ERR_NULL);
	*out = NULL;
	if (eml_mem_init() != EML_OK)
		EML_BAIL(EML_ERR_CRYPTO);
	sim = eml_calloc(1, sizeof(*sim));
	if (sim == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (cfg != NULL)
		sim->cfg = *cfg;
	else
		eml_attest_sim_config_default(&sim->cfg);
	sim->cfg.module_id[sizeof(sim->cfg.module_id) - 1] = '\0';
	if (sim->cfg.module_id[0] == '\0') {
		eml_err_set_detail("simulator module_id is empty");
		EML_FAIL(rc, EML_ERR_ATTEST_SIM_CA);
	}
	if (dir != NULL)
		rc = load_ca(sim, dir);
	else
		rc = make_root(now, &sim->root_key, &sim->root);
	if (rc != EML_OK)
		goto out;
	if ((rc = make_chain(sim, now)) != EML_OK)
		goto out;
	*out = sim;
	sim = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_attest_sim_free(sim);
	return rc;
}

void
eml_attest_sim_free(struct eml_attest_sim *sim)
{
	if (sim == NULL)
		return;
	free_chain(sim);
	X509_free(sim->root);
	EVP_PKEY_free(sim->root_key);
	eml_free_wipe(sim, sizeof(*sim));
}

eml_err
eml_attest_sim_root_pem(const struct eml_attest_sim *sim, struct eml_buf *out)
{
	BIO *bio;
	char *p = NULL;
	long n;
	eml_err rc;

	EML_ENSURE_REF(sim);
	bio = BIO_new(BIO_s_mem());
	EML_ENSURE(bio != NULL, EML_ERR_NOMEM);
	if (PEM_write_bio_X509(bio, sim->root) != 1) {
		BIO_free(bio);
		EML_BAIL(EML_ERR_CRYPTO);
	}
	n = BIO_get_mem_data(bio, &p);
	rc = n > 0 ? eml_buf_append(out, p, (size_t)n) : EML_ERR_CRYPTO;
	BIO_free(bio);
	return rc;
}

static eml_err
der_into(X509 *x, uint8_t *dst, size_t *len)
{
	int n = i2d_X509(x, NULL);
	unsigned char *q = dst;

	if (n <= 0 || (size_t)n > EML_ATTEST_CERT_MAX)
		EML_BAIL(EML_ERR_CRYPTO);
	EML_ENSURE(i2d_X509(x, &q) == n, EML_ERR_CRYPTO);
	*len = (size_t)n;
	return EML_OK;
}

static eml_err
set_opt(struct eml_attest_bytes *dst, const uint8_t *p, size_t n, const char *what)
{
	if (p == NULL)
		return EML_OK;
	if (n > EML_ATTEST_OPT_MAX) {
		eml_err_set_detail("%s is %zu bytes, at most 1024", what, n);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	EML_MEMCPY(dst->data, p, n);
	dst->len = n;
	dst->present = true;
	return EML_OK;
}

static eml_err
sim_signer(void *arg, const uint8_t *msg, size_t n, uint8_t sig[EML_ATTEST_SIG_LEN])
{
	struct eml_attest_sim *sim = arg;
	bool used = false;

	EML_GUARD(eml_presign_sign(sim->pre, msg, n, sig, &used));
	if (used)
		sim->presigned++;
	else
		sim->full++;
	return EML_OK;
}

eml_err
eml_attest_sim_presign(struct eml_attest_sim *sim)
{
	EML_ENSURE_REF(sim);
	if (sim->pre != NULL)
		return EML_OK;
	sim->presign_on = true;
	return eml_presign_new(sim->leaf_key, &sim->pre);
}

void
eml_attest_sim_presign_stats(const struct eml_attest_sim *sim, uint64_t *presigned,
    uint64_t *full)
{
	if (presigned != NULL)
		*presigned = sim != NULL ? sim->presigned : 0;
	if (full != NULL)
		*full = sim != NULL ? sim->full : 0;
}

void
eml_attest_sim_presign_refill(struct eml_attest_sim *sim)
{
	if (sim != NULL)
		eml_presign_refill(sim->pre);
}

bool
eml_attest_sim_presign_wait(struct eml_attest_sim *sim, int ms)
{
	return sim != NULL && eml_presign_wait_ready(sim->pre, ms);
}

eml_err
eml_attest_sim_attest(struct eml_attest_sim *sim, uint64_t at_ms, const uint8_t *user_data,
    size_t user_data_len, const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key,
    size_t public_key_len, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_attest_doc *doc = NULL;
	struct eml_buf payload;
	int64_t t;

	eml_buf_init(&payload, EML_ATTEST_PAYLOAD_MAX);
	if (sim == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (at_ms == 0) {
		struct timespec ts;

		(void)clock_gettime(CLOCK_REALTIME, &ts);
		at_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	}
	t = (int64_t)(at_ms / 1000);
	if (t < sim->leaf_nb || t + LEAF_MARGIN > sim->leaf_na) {
		if ((rc = make_chain(sim, t)) != EML_OK)
			goto out;
	}
	doc = eml_calloc(1, sizeof(*doc));
	if (doc == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	(void)snprintf(doc->module_id, sizeof(doc->module_id), "%s", sim->cfg.module_id);
	doc->timestamp_ms = at_ms;
	for (unsigned i = 0; i < EML_ATTEST_SIM_PCRS; i++) {
		EML_MEMCPY(doc->pcr[i], sim->cfg.pcr[i], 48);
		doc->pcr_len[i] = 48;
		doc->pcr_present |= 1u << i;
	}
	if ((rc = der_into(sim->leaf, doc->certificate, &doc->certificate_len)) != EML_OK ||
	    (rc = der_into(sim->root, doc->cabundle[0], &doc->cabundle_len[0])) != EML_OK)
		goto out;
	for (int i = 0; i < CA_N; i++) {
		rc = der_into(sim->ca[i], doc->cabundle[i + 1], &doc->cabundle_len[i + 1]);
		if (rc != EML_OK)
			goto out;
	}
	doc->cabundle_count = 1 + CA_N;
	if ((rc = set_opt(&doc->public_key, public_key, public_key_len, "public_key")) != EML_OK ||
	    (rc = set_opt(&doc->user_data, user_data, user_data_len, "user_data")) != EML_OK ||
	    (rc = set_opt(&doc->nonce, nonce, nonce_len, "nonce")) != EML_OK)
		goto out;
	if ((rc = eml_attest_payload_encode(doc, sim->cfg.indefinite_map, &payload)) != EML_OK)
		goto out;
	if (sim->pre != NULL)
		rc = eml_attest_cose_sign_by(payload.data, payload.len, NULL, 0, false, sim_signer,
		    sim, out);
	else
		rc = eml_attest_cose_sign(payload.data, payload.len, NULL, 0, false, sim->leaf_key,
		    out);
out:
	if (doc != NULL)
		eml_free_wipe(doc, sizeof(*doc));
	eml_buf_free(&payload);
	return rc;
}

/* ---------------------------------------------------------------- producer */

static eml_err
sim_p_attest(void *ctx, const uint8_t *ud, size_t udl, const uint8_t *nonce, size_t nl,
    const uint8_t *pk, size_t pkl, struct eml_buf *doc)
{
	return eml_attest_sim_attest(ctx, 0, ud, udl, nonce, nl, pk, pkl, doc);
}

static eml_err
sim_p_describe_pcr(void *ctx, unsigned index, bool *locked, uint8_t data[64], size_t *len)
{
	struct eml_attest_sim *sim = ctx;

	if (index >= EML_ATTEST_SIM_PCRS) {
		eml_err_set_detail("PCR%u: the simulator has PCR0..15", index);
		EML_BAIL(EML_ERR_ATTEST_NSM_ERROR);
	}
	EML_MEMCPY(data, sim->cfg.pcr[index], 48);
	*len = 48;
	*locked = true;
	return EML_OK;
}

static eml_err
sim_p_get_random(void *ctx, uint8_t *out, size_t n)
{
	(void)ctx;
	randombytes_buf(out, n);
	return EML_OK;
}

static void
sim_p_close(void *ctx)
{
	eml_attest_sim_free(ctx);
}

void
eml_attest_sim_producer(struct eml_attest_sim *sim, struct eml_attest_producer *p)
{
	p->name = "sim";
	p->ctx = sim;
	p->attest = sim_p_attest;
	p->describe_pcr = sim_p_describe_pcr;
	p->get_random = sim_p_get_random;
	p->close = sim_p_close;
}

/*
 * libeml sessions: connect, attest (verify, then derive keys), infer,
 * summary, close (include/eml/eml.h).
 *
 * The one rule that matters most is in eml_client_attest: the only thing
 * sent before the attestation document verified is the hello (a fresh
 * nonce and an ephemeral public key). Keys can only be derived from the
 * agent key inside a verified document (eml_channel_client_finish), and
 * eml_client_infer refuses to run on a handle that is not attested, so no
 * topology or input byte can leave on a failed verification.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <libgen.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_cache.h"
#include "attestation/eml_evidence.h"
#include "client/sdk/eml_sdk_int.h"
#include "eml_channel.h"
#include "eml_file.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_mem.h"

/* ---------------------------------------------------------------- frames */

static eml_err
send_env(struct eml_client *c, uint32_t type, const uint8_t *rid, const uint8_t *body,
    size_t n)
{
	struct eml_envelope env;

	memset(&env, 0, sizeof(env));
	env.version = EML_PROTO_VERSION;
	env.type = type;
	EML_MEMCPY(env.request_id, rid, EML_REQUEST_ID_LEN);
	env.body = body;
	env.body_len = n;
	/* The envelope's head in tx, the body (a sealed request of any size)
	 * written from where it lies. */
	eml_buf_reset(&c->tx);
	EML_GUARD(eml_envelope_pack_head(&env, c->frame_max, &c->tx));
	return eml_sdk_frame_write(c, c->tx.data, c->tx.len, body, n,
	    eml_deadline_in_ms(c->timeout_ms));
}

void
eml_sdk_next_rid(struct eml_client *c, uint8_t rid[EML_REQUEST_ID_LEN])
{
	uint64_t v = 0;

	EML_MEMCPY(rid, c->rid_base, EML_REQUEST_ID_LEN);
	for (size_t i = EML_REQUEST_ID_LEN - 8; i < EML_REQUEST_ID_LEN; i++)
		v = v << 8 | rid[i];
	v += ++c->rid_count; /* wraps mod 2^64: still 2^64 distinct ids */
	for (size_t i = EML_REQUEST_ID_LEN; i-- > EML_REQUEST_ID_LEN - 8; v >>= 8)
		rid[i] = (uint8_t)v;
}

static eml_err
recv_env(struct eml_client *c, struct eml_envelope *env)
{
	bool first = !c->answered;
	int64_t ms = first && c->timeout_ms > EML_SDK_FIRST_ANSWER_MS ? EML_SDK_FIRST_ANSWER_MS
								       : c->timeout_ms;
	eml_err rc = eml_sdk_frame_read(c, eml_deadline_in_ms(ms), &c->rx);

	if (rc == EML_ERR_IO_TIMEOUT) {
		if (first)
			eml_err_set_detail("%s accepted the connection but sent no answer within "
					   "%lld ms: is it an eml-proxy, with a healthy agent?",
			    c->addr, (long long)ms);
		else
			eml_err_set_detail("%s sent no answer within %lld ms (--timeout)", c->addr,
			    (long long)ms);
	}
	EML_GUARD(rc);
	c->answered = true;
	/* In place: env lives until the next frame is read into c->rx, and
	 * every caller is done with it by then. */
	return eml_envelope_view(env, c->rx.data, c->rx.len, c->frame_max);
}

/* A plain Error from the agent or the proxy: its code becomes ours. The
 * message is not trusted further than a log line. */
static eml_err
peer_error(const struct eml_envelope *env)
{
	ProtobufCMessage *m = NULL;
	eml_err code = EML_ERR_PROTO_PEER_ERROR;

	if (eml_msg_unpack(&eml__v1__error__descriptor, env->body, env->body_len,
	    env->body_len, &m) == EML_OK) {
		const Eml__V1__Error *e = (const Eml__V1__Error *)m;

		if (e->code != 0 && e->code < 1000)
			code = (eml_err)e->code;
		eml_err_set_detail("peer error %u: %.200s", e->code,
		    e->message != NULL ? e->message : "");
		eml_msg_free(m);
	}
	return code;
}

/* ---------------------------------------------------------------- cache */

static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static struct eml_attest_cache *cache;

static void
cache_init(void)
{
	const char *v = getenv("EML_ATTEST_CACHE");

	if (v != NULL && strcmp(v, "0") == 0)
		return;
	if (eml_attest_cache_new(&cache) != EML_OK) {
		cache = NULL; /* no cache: every chain verified in full */
		eml_err_clear_detail();
	}
}

/* One per process, for every session: intermediates verified once under a
 * root are not re-verified (docs/ATTESTATION.md, "Intermediate cache").
 * Lives until the process ends. */
struct eml_attest_cache *
eml_sdk_attest_cache(void)
{
	(void)pthread_once(&cache_once, cache_init);
	return cache;
}

/* ---------------------------------------------------------------- connect */

EML_API int
eml_client_connect(const char *addr, struct eml_client **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_client *c = NULL;
	struct eml_addr a;
	char buf[EML_ADDR_STR_MAX + 8];
	int64_t t0;

	eml_err_clear_detail();
	if (addr == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_USAGE);
	*out = NULL;
	if ((rc = eml_mem_init()) != EML_OK)
		goto out;
	/* HOST:PORT is short for tcp:HOST:PORT. */
	if (strncmp(addr, "tcp:", 4) != 0 && strchr(addr, ':') != NULL &&
	    strncmp(addr, "unix:", 5) != 0 && strncmp(addr, "vsock:", 6) != 0)
		(void)snprintf(buf, sizeof(buf), "tcp:%s", addr);
	else
		(void)snprintf(buf, sizeof(buf), "%s", addr);
	if ((rc = eml_addr_parse(buf, &a)) != EML_OK)
		goto out;
	c = eml_calloc(1, sizeof(*c));
	if (c == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	c->fd = -1;
	c->timeout_ms = EML_SDK_TIMEOUT_DEFAULT_MS;
	c->frame_max = EML_FRAME_MAX_DEFAULT;
	eml_buf_init(&c->rx, c->frame_max);
	eml_buf_init(&c->tx, c->frame_max);
	eml_buf_init_secure(&c->req, c->frame_max);
	eml_buf_init_secure(&c->ans, c->frame_max);
	(void)snprintf(c->addr, sizeof(c->addr), "%s", buf);
	t0 = eml_now_us();
	rc = eml_transport_connect(&a, eml_deadline_in_ms(EML_SDK_CONNECT_MS), &c->fd);
	c->steps.connect_us = eml_now_us() - t0;
	if (rc == EML_ERR_IO_TIMEOUT)
		eml_err_set_detail("nothing answered at %s within %d ms (connect)", buf,
		    EML_SDK_CONNECT_MS);
	if (rc != EML_OK)
		goto out;
	(void)snprintf(c->host, sizeof(c->host), "%s", a.host);
	c->state = EML_SDK_CONNECTED;
	*out = c;
	c = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_client_close(c);
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

EML_API int
eml_client_set_timeout(struct eml_client *c, unsigned ms)
{
	if (c == NULL)
		return (int)EML_ERR_USAGE;
	c->timeout_ms = ms == 0 ? EML_SDK_TIMEOUT_DEFAULT_MS : (int64_t)ms;
	return 0;
}

EML_API int
eml_client_set_insecure_any_image(struct eml_client *c, int on)
{
	if (c == NULL || c->state != EML_SDK_CONNECTED)
		return (int)EML_ERR_USAGE;
	c->any_image = on != 0;
	return 0;
}

static void kill_session(struct eml_client *c);

static void
forget_key(struct eml_client *c)
{
	if (c->api_key != NULL) {
		eml_wipe(c->api_key, EML_SDK_API_KEY_MAX + 1);
		eml_secure_free(c->api_key);
		c->api_key = NULL;
	}
}

static eml_err
store_key(struct eml_client *c, const char *key)
{
	size_t n;

	forget_key(c);
	if (key == NULL || key[0] == '\0')
		return EML_OK;
	n = strnlen(key, EML_SDK_API_KEY_MAX + 1);
	if (n > EML_SDK_API_KEY_MAX) {
		eml_err_set_detail("API key longer than %u bytes", EML_SDK_API_KEY_MAX);
		EML_BAIL(EML_ERR_USAGE);
	}
	c->api_key = eml_secure_alloc(EML_SDK_API_KEY_MAX + 1);
	EML_ENSURE(c->api_key != NULL, EML_ERR_NOMEM);
	memset(c->api_key, 0, EML_SDK_API_KEY_MAX + 1);
	EML_MEMCPY(c->api_key, key, n);
	return EML_OK;
}

EML_API int
eml_client_set_tls(struct eml_client *c, const char *ca_file, const char *name)
{
	eml_err rc;

	if (c == NULL || ca_file == NULL)
		return (int)EML_ERR_USAGE;
	eml_err_clear_detail();
	if (c->state != EML_SDK_CONNECTED) {
		eml_err_set_detail("TLS must start before the handshake");
		rc = EML_ERR_USAGE;
	} else {
		rc = eml_sdk_tls_start(c, ca_file, name);
		if (rc != EML_OK)
			kill_session(c);
	}
	eml_sdk_note(c, rc);
	return (int)rc;
}

EML_API int
eml_client_set_api_key(struct eml_client *c, const char *key)
{
	eml_err rc;

	if (c == NULL)
		return (int)EML_ERR_USAGE;
	eml_err_clear_detail();
	rc = store_key(c, key);
	c->api_key_set = rc == EML_OK;
	eml_sdk_note(c, rc);
	return (int)rc;
}

/* The hello as sent: the transcript's hello, then the API key as the
 * last field (ClientHello.api_key, 4), which the proxy removes. */
static eml_err
hello_add_key(struct eml_client *c, struct eml_buf *hello)
{
	size_t n;

	if (!c->api_key_set) {
		const char *env = getenv("EML_API_KEY");

		EML_GUARD(store_key(c, env));
	}
	if (c->api_key == NULL)
		return EML_OK;
	n = strlen(c->api_key);
	/* field 4, length-delimited; n <= 128 fits a 2-byte varint */
	EML_GUARD(eml_buf_append_u8(hello, (4u << 3) | 2u));
	if (n >= 0x80) {
		EML_GUARD(eml_buf_append_u8(hello, (uint8_t)(0x80u | (n & 0x7fu))));
		EML_GUARD(eml_buf_append_u8(hello, (uint8_t)(n >> 7)));
	} else {
		EML_GUARD(eml_buf_append_u8(hello, (uint8_t)n));
	}
	return eml_buf_append(hello, c->api_key, n);
}

/* ---------------------------------------------------------------- attest */

/*
 * A policy that pins no image trusts whatever enclave answers: refuse it
 * before anything is sent, naming the missing pins (the Go-SDK advisory
 * on incomplete PCR validation is this exact mistake).
 */
static eml_err
check_pins(const struct eml_attest_policy *pol)
{
	char missing[32] = "";
	size_t n = 0;

	for (unsigned i = 0; i < 3; i++)
		if ((pol->pcr_mask & (1u << i)) == 0)
			n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%sPCR%u",
			    n > 0 ? " " : "", i);
	if (n == 0)
		return EML_OK;
	eml_err_set_detail("the policy does not pin %s: add \"pcrs\" from the image's "
	    "measurements (nitro-cli describe-eif, or eml attest sim-init for the simulator)",
	    missing);
	EML_BAIL(EML_ERR_ATTEST_UNPINNED);
}

/* A signed image (PCR8 set, not zero) must have its signer pinned too. */
static eml_err
check_pcr8(const struct eml_attest_doc *doc, const struct eml_attest_policy *pol)
{
	bool signed_image = false;

	if ((doc->pcr_present & (1u << 8)) == 0 || (pol->pcr_mask & (1u << 8)) != 0)
		return EML_OK;
	for (size_t i = 0; i < doc->pcr_len[8]; i++)
		signed_image = signed_image || doc->pcr[8][i] != 0;
	if (!signed_image)
		return EML_OK;
	eml_err_set_detail("the image is signed (PCR8 set) but the policy does not pin PCR8: "
	    "add \"8\" to \"pcrs\" (the signing certificate's measurement)");
	EML_BAIL(EML_ERR_ATTEST_UNPINNED);
}

/*
 * The last trust root parsed, by its exact bytes: sessions of one process
 * that name the same root (the same file, unchanged) reuse the parsed
 * certificate and the summary's subject instead of parsing the PEM twice
 * per handshake (~0.3 ms). The bytes are read every time; only a byte-for-
 * byte equal root is taken from here. Public data only.
 */
static pthread_mutex_t root_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint8_t *pem;
	size_t len;
	struct eml_attest_root *root;
	struct eml_client_summary who; /* .root and .producer only */
} root_memo;

static bool
root_memo_get(const uint8_t *pem, size_t len, struct eml_attest_root **root,
    struct eml_client_summary *s)
{
	bool hit = false;

	pthread_mutex_lock(&root_mu);
	if (root_memo.root != NULL && root_memo.len == len && memcmp(root_memo.pem, pem, len) == 0 &&
	    eml_attest_root_dup(root_memo.root, root) == EML_OK) {
		EML_MEMCPY(s->root, root_memo.who.root, sizeof(s->root));
		EML_MEMCPY(s->producer, root_memo.who.producer, sizeof(s->producer));
		hit = true;
	}
	pthread_mutex_unlock(&root_mu);
	return hit;
}

static void
root_memo_put(const uint8_t *pem, size_t len, const struct eml_attest_root *root,
    const struct eml_client_summary *s)
{
	struct eml_attest_root *dup = NULL;
	uint8_t *copy = eml_alloc(len);

	if (copy == NULL || eml_attest_root_dup(root, &dup) != EML_OK) {
		eml_free(copy);
		eml_err_clear_detail();
		return;
	}
	EML_MEMCPY(copy, pem, len);
	pthread_mutex_lock(&root_mu);
	eml_attest_root_free(root_memo.root);
	eml_free(root_memo.pem);
	root_memo.pem = copy;
	root_memo.len = len;
	root_memo.root = dup;
	EML_MEMCPY(root_memo.who.root, s->root, sizeof(s->root));
	EML_MEMCPY(root_memo.who.producer, s->producer, sizeof(s->producer));
	pthread_mutex_unlock(&root_mu);
}

/* The trust root the policy names: inline PEM, or a path relative to the
 * policy file; its subject and producer into s. */
static eml_err
load_root(const char *policy_path, const struct eml_attest_policy *pol,
    struct eml_attest_root **root, struct eml_buf *pem, struct eml_client_summary *s)
{
	char dir[4096], path[8192];

	if (pol->root_pem_len > 0) {
		EML_GUARD(eml_buf_append(pem, pol->root_pem, pol->root_pem_len));
	} else if (pol->root_path[0] != '\0') {
		if (pol->root_path[0] == '/') {
			(void)snprintf(path, sizeof(path), "%s", pol->root_path);
		} else {
			(void)snprintf(dir, sizeof(dir), "%s", policy_path);
			(void)snprintf(path, sizeof(path), "%s/%s", dirname(dir), pol->root_path);
		}
		EML_GUARD(eml_file_read_buf(path, 65536, EML_FILE_NONEMPTY, pem));
	} else {
		/* DESIGN §5: no default root, the caller must name one. */
		eml_err_set_detail("the client policy names no trust_root");
		EML_BAIL(EML_ERR_ATTEST_POLICY);
	}
	if (root_memo_get(pem->data, pem->len, root, s))
		return EML_OK;
	EML_GUARD(eml_attest_root_load(pem->data, pem->len, root));
	eml_sdk_describe_root(pem->data, pem->len, s);
	root_memo_put(pem->data, pem->len, *root, s);
	return EML_OK;
}

/* Subject of the root for the summary, and the producer judged from it:
 * only the AWS Nitro root stands for real hardware. */
void
eml_sdk_describe_root(const uint8_t *pem, size_t pem_len, struct eml_client_summary *s)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	char cn[128] = "";

	if (x != NULL)
		(void)X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
		    (int)sizeof(cn));
	(void)snprintf(s->root, sizeof(s->root), "%s", cn[0] != '\0' ? cn : "unknown");
	(void)snprintf(s->producer, sizeof(s->producer), "%s",
	    strcmp(cn, "aws.nitro-enclaves") == 0 ? "nsm" : "sim");
	X509_free(x);
	BIO_free(bio);
}

static void
fill_summary(struct eml_client *c, const struct eml_attest_doc *doc,
    const struct eml_attest_policy *pol)
{
	struct eml_client_summary *s = &c->summary;

	(void)snprintf(s->module_id, sizeof(s->module_id), "%.127s", doc->module_id);
	s->timestamp_ms = doc->timestamp_ms;
	s->n_pcrs = 0;
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT && s->n_pcrs < EML_CLIENT_MAX_PCRS; i++) {
		if ((pol->pcr_mask & (1u << i)) == 0 || doc->pcr_len[i] != 48)
			continue;
		s->pcrs[s->n_pcrs].index = i;
		EML_MEMCPY(s->pcrs[s->n_pcrs].value, doc->pcr[i], 48);
		s->n_pcrs++;
	}
	s->policy_digest_len = doc->user_data.present && doc->user_data.len <= 64 ?
	    doc->user_data.len : 0;
	EML_MEMCPY(s->policy_digest, doc->user_data.data, s->policy_digest_len);
	EML_MEMCPY(s->session_id, c->session_id, sizeof(s->session_id));
}

static eml_err
handshake(struct eml_client *c, const char *policy_path)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf pbytes, hello, pem;
	struct eml_attest_policy *pol = NULL;
	struct eml_attest_root *root = NULL;
	struct eml_attest_doc *doc = NULL;
	ProtobufCMessage *m = NULL;
	const Eml__V1__AttestationResponse *ar;
	struct eml_envelope env;
	struct eml_client_summary who; /* the root's subject and producer */
	int64_t t0 = eml_now_us(), t;

	memset(&env, 0, sizeof(env));
	memset(&who, 0, sizeof(who));
	eml_buf_init(&pbytes, EML_ATTEST_POLICY_FILE_MAX);
	eml_buf_init(&hello, 4096);
	eml_buf_init(&pem, 65536);
	pol = eml_calloc(1, sizeof(*pol));
	doc = eml_calloc(1, sizeof(*doc));
	if (pol == NULL || doc == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* Everything local first: a bad policy file costs no round trip. */
	if ((rc = eml_file_read_buf(policy_path, EML_ATTEST_POLICY_FILE_MAX, EML_FILE_NONEMPTY, &pbytes)) != EML_OK)
		goto out;
	if ((rc = eml_attest_policy_parse(pbytes.data, pbytes.len, pol)) != EML_OK)
		goto out;
	if (!c->any_image && (rc = check_pins(pol)) != EML_OK)
		goto out;
	if ((rc = load_root(policy_path, pol, &root, &pem, &who)) != EML_OK)
		goto out;
	if ((rc = eml_channel_client_new(&c->ch, &hello)) != EML_OK)
		goto out;
	/* DESIGN §3 step 5: the document must carry our nonce and a key. */
	if ((rc = eml_channel_client_nonce(c->ch, pol->nonce)) != EML_OK)
		goto out;
	pol->nonce_set = true;
	pol->nonce_len = EML_HELLO_NONCE_LEN;
	pol->require_public_key = true;
	if ((rc = hello_add_key(c, &hello)) != EML_OK)
		goto out;
	{
		uint8_t r[sizeof(c->session_id) + sizeof(c->rid_base)];

		randombytes_buf(r, sizeof(r));
		EML_MEMCPY(c->session_id, r, sizeof(c->session_id));
		EML_MEMCPY(c->rid_base, r + sizeof(c->session_id), sizeof(c->rid_base));
		c->rid_count = 0;
	}
	t = eml_now_us();
	c->steps.local_us = t - t0;
	rc = send_env(c, EML_MSG_CLIENT_HELLO, c->session_id, hello.data, hello.len);
	/* the key is in hello (wiped when freed); tx holds the envelope's
	 * head only, wiped anyway */
	if (c->api_key != NULL && c->tx.data != NULL)
		eml_wipe(c->tx.data, c->tx.len);
	/* A peer that refused us (busy) may have closed before our hello
	 * arrived: its Error frame can still be waiting to be read. */
	if (rc != EML_OK && rc != EML_ERR_IO_EOF)
		goto out;
	{
		eml_err rrc = recv_env(c, &env);

		if (rrc != EML_OK) {
			rc = rc == EML_OK ? rrc : rc;
			goto out;
		}
	}
	c->steps.rtt_us = eml_now_us() - t;
	if (env.type == EML_MSG_ERROR) {
		rc = peer_error(&env);
		goto out;
	}
	/* The hello did not go out whole: only an Error can answer that. */
	if (rc != EML_OK)
		goto out;
	if (env.type != EML_MSG_ATTESTATION_RESPONSE) {
		eml_err_set_detail("expected ATTESTATION_RESPONSE, got %s",
		    eml_msg_type_name(env.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
	if ((rc = eml_msg_unpack(&eml__v1__attestation_response__descriptor, env.body,
	    env.body_len, env.body_len, &m)) != EML_OK)
		goto out;
	ar = (const Eml__V1__AttestationResponse *)m;
	if ((rc = eml_msg_attestation_response_check(ar)) != EML_OK)
		goto out;
	/* DESIGN §3 step 5, fail closed: signature, chain to the named root
	 * now, nonce, freshness, PCRs, policy digest. */
	t = eml_now_us();
	rc = eml_attest_verify_ex(ar->attestation_document.data, ar->attestation_document.len,
	    root, EML_ATTEST_AT_NOW, 0, pol, eml_sdk_attest_cache(), &c->steps.verify, doc);
	c->steps.policy_us = eml_now_us() - t - c->steps.verify.parse_us - c->steps.verify.auth_us;
	if (rc != EML_OK)
		goto out;
	if (!c->any_image && (rc = check_pcr8(doc, pol)) != EML_OK)
		goto out;
	if (!doc->public_key.present || doc->public_key.len != EML_X25519_KEY_LEN) {
		eml_err_set_detail("attestation public_key is not a 32-byte X25519 key");
		EML_FAIL(rc, EML_ERR_ATTEST_PUBLIC_KEY);
	}
	/* Step 6: keys from the verified key, bound to the exact bytes. */
	t = eml_now_us();
	if ((rc = eml_channel_client_finish(c->ch, env.body, env.body_len, doc->public_key.data)) !=
	    EML_OK)
		goto out;
	c->steps.keys_us = eml_now_us() - t;
	fill_summary(c, doc, pol);
	EML_MEMCPY(c->summary.root, who.root, sizeof(c->summary.root));
	EML_MEMCPY(c->summary.producer, who.producer, sizeof(c->summary.producer));
	eml_evidence_exchange_init(c->exchange_hash);
	c->root = root;
	root = NULL; /* transferred: evidence is checked against it */
	rc = EML_OK;
out:
	eml_msg_free(m);
	eml_envelope_clear(&env);
	eml_attest_root_free(root);
	eml_free(doc);
	eml_free_wipe(pol, pol == NULL ? 0 : sizeof(*pol));
	eml_buf_free(&pbytes);
	eml_buf_free(&hello);
	eml_buf_free(&pem);
	return rc;
}

static void
kill_session(struct eml_client *c)
{
	c->state = EML_SDK_DEAD;
	eml_channel_free(c->ch);
	c->ch = NULL;
	/* the session's kept request and answer buffers (keep_wiped) */
	eml_buf_free(&c->req);
	eml_buf_free(&c->ans);
	eml_sdk_tls_free(c);
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
}

EML_API int
eml_client_attest(struct eml_client *c, const char *policy_path)
{
	eml_err rc;

	eml_err_clear_detail();
	if (c == NULL || policy_path == NULL)
		return (int)EML_ERR_USAGE;
	if (c->state != EML_SDK_CONNECTED) {
		eml_err_set_detail("attest is allowed once, on a fresh connection");
		rc = EML_ERR_SESSION_STATE;
		eml_sdk_note(c, rc);
		return (int)rc;
	}
	rc = handshake(c, policy_path);
	if (rc == EML_OK)
		c->state = EML_SDK_ATTESTED;
	else
		kill_session(c); /* nothing but the hello was sent */
	eml_sdk_note(c, rc);
	return (int)rc;
}

EML_API int
eml_client_summary(const struct eml_client *c, struct eml_client_summary *out)
{
	if (c == NULL || out == NULL)
		return (int)EML_ERR_USAGE;
	if (c->state != EML_SDK_ATTESTED)
		return (int)EML_ERR_SESSION_NOT_ATTESTED;
	*out = c->summary;
	return 0;
}

/* ---------------------------------------------------------------- infer */

/* The length of an INFER_REQUEST envelope's head (everything before the
 * body) for a body of n bytes: where the sealed body starts in the frame.
 * 0 when it cannot be had (the request then fails at send as before). */
static size_t
request_head_len(struct eml_client *c, size_t n)
{
	static const uint8_t any = 0; /* pack_head reads no body byte */
	struct eml_envelope env;
	struct eml_buf h;
	size_t len = 0;

	memset(&env, 0, sizeof(env));
	env.version = EML_PROTO_VERSION;
	env.type = EML_MSG_INFER_REQUEST;
	env.body = &any;
	env.body_len = n;
	eml_buf_init(&h, 64);
	if (eml_envelope_pack_head(&env, c->frame_max, &h) == EML_OK)
		len = h.len;
	else
		eml_err_clear_detail();
	eml_buf_free(&h);
	return len;
}

#define SEND_PIECE ((size_t)256 << 10)

/* Where a large request's tensors are: sealed from the caller's memory. */
struct gather {
	struct eml_msg_gather g[SDK_MAX_IO];
	size_t n;   /* entries; 0: pt holds the whole request */
	size_t ext; /* their bytes */
};

/* The request encoded with every input tensor's bytes at a multiple of 16
 * from the start of the frame body (docs/PROTOCOL.md §5: the agent opens
 * the request where it arrived and reads such tensors in place; any
 * other offset costs it a decode copy of the whole request). The offset
 * depends on the head, whose length depends on the body's: a second pass
 * when the first changed it. A request larger than a piece leaves its
 * tensors' data where the caller has it (gt: where it goes in the
 * message; sealed from there as it is sent): no copy into pt, which holds
 * the rest; a smaller one is encoded whole into pt. */
static eml_err
encode_request(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n, struct eml_buf *pt, struct gather *gt)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__InferRequest req = EML__V1__INFER_REQUEST__INIT;
	struct eml_sdk_tensor_views v;
	size_t base, size, data = 0;
	bool gather;

	gt->n = gt->ext = 0;
	if ((rc = eml_sdk_tensor_views(inputs, n, &v)) != EML_OK)
		goto out;
	if (c->kept && sodium_memcmp(c->kept_digest, m->topo_digest, 32) == 0) {
		/* the agent keeps this model: named by its digest, the key
		 * (and the signature, checked at assembly) not sent again */
		req.topology_digest.data = (uint8_t *)(uintptr_t)m->topo_digest;
		req.topology_digest.len = sizeof(m->topo_digest);
	} else {
		eml_sdk_model_fields(m, &req.topology_key, &req.model_signature);
	}
	req.n_inputs = n;
	req.inputs = v.tp;
	size = protobuf_c_message_get_packed_size(&req.base);
	for (size_t i = 0; i < n; i++)
		data += inputs[i].nbytes;
	/* room for the tag and the padding (at most 47 bytes of dims padding
	 * per tensor) within the frame limit: aligned, else as packed */
	gather = data > SEND_PIECE && size + 48 * n + EML_CHANNEL_TAG_LEN <= pt->max;
	/* whole: room for the tag and the padding too: sealed in place,
	 * nothing moves */
	if (!gather && eml_buf_reserve(pt, size + 48 * n + EML_CHANNEL_TAG_LEN) != EML_OK) {
		/* no room for padding next to the frame limit: as packed */
		eml_err_clear_detail();
		if ((rc = eml_buf_reserve(pt, size + EML_CHANNEL_TAG_LEN)) == EML_OK)
			rc = eml_msg_pack(&req.base, pt);
		goto out;
	}
	base = request_head_len(c, size + EML_CHANNEL_TAG_LEN);
	for (int pass = 0; pass < 2; pass++) {
		size_t again;

		eml_wipe(pt->data, pt->len);
		pt->len = 0;
		gt->n = gt->ext = 0;
		if (gather)
			rc = eml_msg_infer_request_pack_gather(&req, base, SEND_PIECE / 4, pt, gt->g,
			    SDK_MAX_IO, &gt->n);
		else
			rc = eml_msg_infer_request_pack_aligned(&req, base, pt);
		if (rc != EML_OK)
			goto out;
		for (size_t i = 0; i < gt->n; i++)
			gt->ext += gt->g[i].len;
		again = request_head_len(c, pt->len + gt->ext + EML_CHANNEL_TAG_LEN);
		if (again == base)
			break;
		base = again;
	}
out:
	return rc;
}

/*
 * The encoded request in pt (room for the tag reserved) sealed in place
 * and sent piece by piece: each piece is sealed, taken into the exchange
 * hash while it is in the cache, and written before the next is sealed,
 * so the sealing overlaps the transfer and the agent's open (which works
 * on each piece as it arrives). The bytes on the wire are eml_channel_seal's.
 * *sealed once all of pt is ciphertext (the tag after it); until then
 * pt holds plaintext the caller wipes. x: the exchange step over the
 * sealed body (begun whole at the end when the digest could not start
 * or failed). EML_ERR_IO_EOF when the peer closed meanwhile (the caller
 * reads the reason it may have left).
 */
/* A request of at most one piece (the seal begun): sealed whole, the
 * frame (head in c->tx, then the body) in one write, and only then taken
 * into the exchange hash, while the proxy and the agent work on it. */
static eml_err
send_small(struct eml_client *c, struct eml_buf *pt, uint8_t *tag, struct eml_evidence_x *x,
    bool *sealed, int64_t deadline)
{
	eml_err rc = eml_channel_seal_update(c->ch, pt->data, pt->len - EML_CHANNEL_TAG_LEN,
	    pt->data);

	if (rc == EML_OK && (rc = eml_channel_seal_final(c->ch, tag)) == EML_OK) {
		*sealed = true;
		if (c->ssl == NULL) {
			struct iovec iov[2] = { { c->tx.data, c->tx.len }, { pt->data, pt->len } };

			rc = eml_io_writev_full(c->fd, iov, 2, deadline);
		} else if ((rc = eml_sdk_write(c, c->tx.data, c->tx.len, deadline)) == EML_OK) {
			rc = eml_sdk_write(c, pt->data, pt->len, deadline);
		}
	}
	eml_channel_seal_abort(c->ch); /* closes it if the seal did not finish */
	if (rc == EML_OK)
		eml_evidence_exchange_begin(x, c->exchange_hash, pt->data, pt->len);
	return rc;
}

/* A gathered request (gt): the message is pt's bytes with each gt->g's
 * inserted at its offset; it is sealed from there (the caller's tensors
 * and pt) into the piece buffer w (SEND_PIECE + a tag), each full piece
 * taken into the exchange hash and written, the tag after the last piece
 * in its write. Nothing is sealed in place: pt keeps its plaintext (the
 * caller wipes it) and w holds ciphertext only. */
static eml_err
send_gathered(struct eml_client *c, const struct eml_buf *pt, const struct gather *gt,
    uint8_t *w, struct eml_evidence_x *x, int64_t deadline)
{
	size_t pos = 0, in = 0;
	eml_err rc = EML_OK;

	for (size_t i = 0; rc == EML_OK && i <= gt->n; i++) {
		/* pt's bytes up to the next tensor (to the end after the last),
		 * then that tensor's */
		for (int part = 0; part < 2 && rc == EML_OK; part++) {
			const uint8_t *src;
			size_t len;

			if (part == 0) {
				size_t to = i < gt->n ? gt->g[i].at : pt->len;

				src = pt->data + in;
				len = to - in;
				in = to;
			} else if (i < gt->n) {
				src = gt->g[i].p;
				len = gt->g[i].len;
			} else {
				break;
			}
			while (rc == EML_OK && len > 0) {
				size_t k = len < SEND_PIECE - pos ? len : SEND_PIECE - pos;

				if ((rc = eml_channel_seal_update(c->ch, src, k, w + pos)) != EML_OK)
					break;
				src += k;
				len -= k;
				pos += k;
				if (pos < SEND_PIECE)
					continue;
				if (eml_evidence_exchange_update(x, w, pos) != 0)
					rc = eml_err_record(EML_ERR_CRYPTO, __FILE__, __LINE__, __func__);
				else
					rc = eml_sdk_write(c, w, pos, deadline);
				pos = 0;
			}
		}
	}
	if (rc == EML_OK && (rc = eml_channel_seal_final(c->ch, w + pos)) == EML_OK) {
		pos += EML_CHANNEL_TAG_LEN;
		if (eml_evidence_exchange_update(x, w, pos) != 0)
			rc = eml_err_record(EML_ERR_CRYPTO, __FILE__, __LINE__, __func__);
		else
			rc = eml_sdk_write(c, w, pos, deadline);
	}
	return rc;
}

static eml_err
send_request(struct eml_client *c, const struct eml_envelope *hdr, struct eml_buf *pt,
    const struct gather *gt, struct eml_evidence_x *x, bool *sealed)
{
	struct eml_envelope env = *hdr;
	int64_t deadline = eml_deadline_in_ms(c->timeout_ms);
	size_t n = pt->len, body, total;
	uint8_t *tag, *w;
	bool whole;
	eml_err rc;

	*sealed = false;
	EML_ENSURE(!eml_add_overflow(n, gt->ext, &n), EML_ERR_OVERFLOW);
	EML_ENSURE(!eml_add_overflow(n, (size_t)EML_CHANNEL_TAG_LEN, &body), EML_ERR_OVERFLOW);
	env.body = pt->data;
	env.body_len = body;
	/* the frame's length word and the envelope's head, in one write */
	eml_buf_reset(&c->tx);
	EML_GUARD(eml_buf_append(&c->tx, "\0\0\0\0", EML_FRAME_HDR_LEN));
	EML_GUARD(eml_envelope_pack_head(&env, c->frame_max, &c->tx));
	total = c->tx.len - EML_FRAME_HDR_LEN + body;
	EML_GUARD(eml_frame_check_len(total, c->frame_max));
	eml_store_u32be(c->tx.data, (uint32_t)total);
	if (gt->n != 0) {
		/* the piece buffer after the head in tx (ciphertext only) */
		size_t head = c->tx.len;

		EML_GUARD(eml_buf_reserve(&c->tx, SEND_PIECE + EML_CHANNEL_TAG_LEN));
		w = c->tx.data + head;
		EML_GUARD(eml_channel_seal_begin(c->ch, hdr));
		eml_evidence_exchange_begin_len(x, c->exchange_hash, body);
		if (x->md == NULL)
			rc = eml_err_record(EML_ERR_NOMEM, __FILE__, __LINE__, __func__);
		else if ((rc = eml_sdk_write(c, c->tx.data, head, deadline)) == EML_OK)
			rc = send_gathered(c, pt, gt, w, x, deadline);
		eml_channel_seal_abort(c->ch); /* closes it if the seal did not finish */
		return rc;
	}
	EML_GUARD(eml_buf_extend(pt, EML_CHANNEL_TAG_LEN, &tag)); /* reserved: no move */
	EML_GUARD(eml_channel_seal_begin(c->ch, hdr));
	if (n <= SEND_PIECE)
		return send_small(c, pt, tag, x, sealed, deadline);
	eml_evidence_exchange_begin_len(x, c->exchange_hash, body);
	whole = x->md == NULL;
	rc = eml_sdk_write(c, c->tx.data, c->tx.len, deadline);
	for (size_t off = 0, k; rc == EML_OK && off < n; off += k) {
		uint8_t *p = pt->data + off;

		k = n - off < SEND_PIECE ? n - off : SEND_PIECE;
		if ((rc = eml_channel_seal_update(c->ch, p, k, p)) != EML_OK)
			break;
		if (!whole && eml_evidence_exchange_update(x, p, k) != 0) {
			eml_evidence_exchange_abort(x);
			whole = true;
		}
		rc = eml_sdk_write(c, p, k, deadline);
	}
	if (rc == EML_OK && (rc = eml_channel_seal_final(c->ch, tag)) == EML_OK) {
		*sealed = true;
		if (!whole && eml_evidence_exchange_update(x, tag, EML_CHANNEL_TAG_LEN) != 0) {
			eml_evidence_exchange_abort(x);
			whole = true;
		}
		rc = eml_sdk_write(c, tag, EML_CHANNEL_TAG_LEN, deadline);
	}
	eml_channel_seal_abort(c->ch); /* closes it if the seal did not finish */
	if (rc == EML_OK && whole)
		eml_evidence_exchange_begin(x, c->exchange_hash, pt->data, pt->len);
	return rc;
}

static eml_err
decode_response(const struct eml_buf *pt, struct eml_client_tensor **outs, size_t *n_outs,
    bool *kept)
{
	eml_err rc = EML_ERR_INTERNAL;
	ProtobufCMessage *m = NULL;
	const Eml__V1__InferResponse *r;

	if ((rc = eml_msg_unpack(&eml__v1__infer_response__descriptor, pt->data, pt->len,
	    pt->len, &m)) != EML_OK)
		goto out;
	r = (const Eml__V1__InferResponse *)m;
	if (r->error != NULL) {
		/* A refusal, sealed by the agent: the same report as a plain
		 * peer Error ("peer error N: ..."), the session goes on. */
		if (r->n_outputs != 0 || r->error->code == 0 || r->error->code >= 1000)
			EML_FAIL(rc, EML_ERR_PROTO_FIELD);
		eml_err_set_detail("peer error %u: %.200s", r->error->code,
		    r->error->message != NULL ? r->error->message : "");
		rc = (eml_err)r->error->code;
		goto out;
	}
	rc = eml_sdk_outputs_copy(r, outs, n_outs);
	*kept = rc == EML_OK && r->model_kept;
out:
	eml_msg_free(m);
	return rc;
}

/* Agent refusals that leave the session usable: the agent answered a
 * request it could open with a plain Error and kept the session. */
static bool
session_survives(eml_err rc)
{
	int cat = eml_err_category(rc);

	if (rc == EML_ERR_BUSY || rc == EML_ERR_SESSION_STATE || rc == EML_ERR_SESSION_CLOSED)
		return false;
	if ((int)rc >= 750 && (int)rc < 800) /* proxy: agent lost, ... */
		return false;
	return cat == 500 || cat == 600 || cat == 700;
}

/* A request's buffers after it: wiped whole (a failed open may have
 * written past len) and kept for the next request of the session, at any
 * size: a large one is a locked huge-page block (eml_secure_alloc from 2
 * MiB) that a following request of that size reuses instead of mapping,
 * faulting and locking it again. Bounded by the frame maximum (c->req
 * and c->ans are initialised with it), so what a session keeps resident
 * is at most two frames; freed when the session ends (kill_session,
 * eml_client_close). */
static void
keep_wiped(struct eml_buf *b)
{
	eml_wipe(b->data, b->cap);
	b->len = 0;
}

EML_API int
eml_client_infer(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n_inputs, struct eml_client_tensor **outs,
    size_t *n_outs)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf *pt, *ans; /* pt: the request, sealed in place; ans: the answer */
	struct eml_envelope hdr, env;
	uint8_t rid[EML_REQUEST_ID_LEN];
	struct eml_evidence_x x;
	struct gather gt;
	bool fatal = true, sealed = false, kept = false;

	memset(&env, 0, sizeof(env));
	memset(&x, 0, sizeof(x));
	eml_err_clear_detail();
	if (outs != NULL)
		*outs = NULL;
	if (n_outs != NULL)
		*n_outs = 0;
	if (c == NULL || m == NULL || outs == NULL || n_outs == NULL ||
	    (inputs == NULL && n_inputs != 0)) {
		rc = eml_err_record(EML_ERR_USAGE, __FILE__, __LINE__, __func__);
		eml_sdk_note(c, rc);
		return (int)rc;
	}
	pt = &c->req;
	ans = &c->ans;
	if (c->state != EML_SDK_ATTESTED) {
		/* The gate: nothing secret leaves an unattested handle. */
		fatal = false;
		EML_FAIL(rc, EML_ERR_SESSION_NOT_ATTESTED);
	}
	if ((rc = encode_request(c, m, inputs, n_inputs, pt, &gt)) != EML_OK) {
		fatal = false;
		goto out;
	}
	eml_sdk_next_rid(c, rid);
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = EML_PROTO_VERSION;
	hdr.type = EML_MSG_INFER_REQUEST;
	EML_MEMCPY(hdr.request_id, rid, sizeof(rid));
	/* Sealed where it was encoded (room for the tag was reserved), piece
	 * by piece as it goes out; the evidence hash takes each sealed piece
	 * then, and the answer when it is here. Once sealed whole, pt holds
	 * ciphertext only: what went on the wire, nothing to wipe. A large
	 * request (gt.n != 0) is sealed from the caller's tensors and pt into
	 * a piece buffer instead: pt keeps plaintext and is wiped. */
	rc = send_request(c, &hdr, pt, &gt, &x, &sealed);
	/* The peer may have ended the session (and said why in an Error
	 * frame) before our request went out: read that reason if it is
	 * there, rather than reporting a bare EOF. */
	if (rc != EML_OK && rc != EML_ERR_IO_EOF)
		goto out;
	{
		eml_err rrc = recv_env(c, &env);

		if (rrc != EML_OK) {
			rc = rc == EML_OK ? rrc : rc;
			goto out;
		}
		if (rc != EML_OK && env.type != EML_MSG_ERROR)
			goto out;
	}
	if (env.type == EML_MSG_ERROR) {
		rc = peer_error(&env);
		/* Not an exchange for evidence: the agent answers every request
		 * it opened sealed, refusals included; a plain Error is the
		 * host's or ends the session (as does a request cut short: the
		 * channel closed under its unfinished seal). */
		fatal = !session_survives(rc) || !eml_channel_is_open(c->ch);
		goto out;
	}
	if (env.type != EML_MSG_INFER_RESPONSE) {
		eml_err_set_detail("expected INFER_RESPONSE, got %s", eml_msg_type_name(env.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
	if (sodium_memcmp(env.request_id, rid, sizeof(rid)) != 0) {
		eml_err_set_detail("response for another request");
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	if ((rc = eml_channel_open(c->ch, &env, ans)) != EML_OK)
		goto out;
	c->exchanges++;
	eml_evidence_exchange_end(&x, c->exchange_hash, env.body, env.body_len);
	if ((rc = decode_response(ans, outs, n_outs, &kept)) != EML_OK) {
		/* A sealed refusal leaves the session as a plain one did. */
		fatal = eml_err_category(rc) == 200 || !session_survives(rc);
		goto out;
	}
	c->requests++;
	/* what the agent keeps now (meaningful while kept is set) */
	EML_MEMCPY(c->kept_digest, m->topo_digest, sizeof(c->kept_digest));
	fatal = false;
	rc = EML_OK;
out:
	c->kept = kept; /* only while the last answer says so */
	eml_evidence_exchange_abort(&x); /* not answered */
	if (rc != EML_OK && fatal)
		kill_session(c);
	eml_envelope_clear(&env);
	if (sealed)
		pt->len = 0;
	else
		keep_wiped(pt);
	keep_wiped(ans);
	eml_sdk_note(c, rc);
	return (int)rc;
}

/* ---------------------------------------------------------------- evidence */

/* The artifact must describe this session as the client saw it. */
static eml_err
evidence_matches(const struct eml_client *c, const struct eml_evidence *ev,
    const uint8_t *nonce, size_t nonce_len, bool final)
{
	const struct eml_evidence_session *s = &ev->session;
	uint8_t sid[EML_CHANNEL_SESSION_ID_LEN], th[EML_CHANNEL_HASH_LEN];
	const char *field = NULL;

	EML_GUARD(eml_channel_session_id(c->ch, sid));
	EML_GUARD(eml_channel_transcript_hash(c->ch, th));
	if (sodium_memcmp(s->id, sid, sizeof(sid)) != 0)
		field = "session.id";
	else if (sodium_memcmp(s->transcript_hash, th, sizeof(th)) != 0)
		field = "session.transcript_hash";
	else if (s->request_count != c->exchanges)
		field = "session.request_count";
	else if (sodium_memcmp(s->exchange_hash, c->exchange_hash, 32) != 0)
		field = "session.exchange_hash";
	else if (c->summary.policy_digest_len != 32 ||
	    sodium_memcmp(s->policy_digest, c->summary.policy_digest, 32) != 0)
		field = "session.policy_digest";
	else if (s->nonce_len != nonce_len || sodium_memcmp(s->nonce, nonce, nonce_len) != 0)
		field = "session.evidence_nonce";
	else if (s->final != final)
		field = "session.final";
	if (field != NULL) {
		eml_err_set_detail("%s: not what this session saw", field);
		EML_BAIL(EML_ERR_EVIDENCE_MISMATCH);
	}
	return EML_OK;
}

static eml_err
evidence_check(const struct eml_client *c, const uint8_t *art, size_t n, const uint8_t *nonce,
    size_t nonce_len, bool final)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_evidence *ev = eml_calloc(1, sizeof(*ev));
	struct eml_attest_doc *doc = eml_calloc(1, sizeof(*doc));
	struct eml_attest_policy *pol = eml_calloc(1, sizeof(*pol));
	struct eml_evidence_check chk;

	if (ev == NULL || doc == NULL || pol == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* The PCRs and digest the handshake verified must hold for the
	 * document that binds the signing key as well. */
	eml_attest_policy_init(pol);
	for (size_t i = 0; i < c->summary.n_pcrs; i++) {
		unsigned k = c->summary.pcrs[i].index;

		pol->pcr_mask |= 1u << k;
		pol->pcr_len[k] = 48;
		EML_MEMCPY(pol->pcr[k], c->summary.pcrs[i].value, 48);
	}
	pol->user_data_set = true;
	pol->user_data_len = c->summary.policy_digest_len;
	EML_MEMCPY(pol->user_data, c->summary.policy_digest, c->summary.policy_digest_len);
	memset(&chk, 0, sizeof(chk));
	chk.root = c->root;
	chk.at = EML_ATTEST_AT_DOC;
	chk.policy = pol;
	if ((rc = eml_evidence_verify(art, n, &chk, ev, doc)) != EML_OK)
		goto out;
	rc = evidence_matches(c, ev, nonce, nonce_len, final);
out:
	eml_free(ev);
	eml_free(doc);
	eml_free(pol);
	return rc;
}

EML_API int
eml_client_evidence(struct eml_client *c, int final, uint8_t **out, size_t *len)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__EvidenceRequest req = EML__V1__EVIDENCE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	const Eml__V1__EvidenceResponse *r;
	struct eml_buf pt, ct;
	struct eml_envelope hdr, env;
	uint8_t rid[EML_REQUEST_ID_LEN], nonce[32];
	uint8_t *copy = NULL;
	bool fatal = true;

	memset(&env, 0, sizeof(env));
	eml_buf_init(&pt, EML_EVIDENCE_MAX + 1024);
	eml_buf_init(&ct, EML_EVIDENCE_MAX + 1024);
	eml_err_clear_detail();
	if (c == NULL || out == NULL || len == NULL) {
		fatal = false;
		EML_FAIL(rc, EML_ERR_USAGE);
	}
	*out = NULL;
	*len = 0;
	if (c->state != EML_SDK_ATTESTED || c->root == NULL) {
		fatal = false;
		EML_FAIL(rc, EML_ERR_SESSION_NOT_ATTESTED);
	}
	/* A fresh nonce: this artifact cannot be one made earlier. */
	randombytes_buf(nonce, sizeof(nonce));
	req.nonce.data = nonce;
	req.nonce.len = sizeof(nonce);
	req.final = final != 0;
	if ((rc = eml_msg_pack(&req.base, &pt)) != EML_OK)
		goto out;
	eml_sdk_next_rid(c, rid);
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = EML_PROTO_VERSION;
	hdr.type = EML_MSG_EVIDENCE_REQUEST;
	EML_MEMCPY(hdr.request_id, rid, sizeof(rid));
	if ((rc = eml_channel_seal(c->ch, &hdr, pt.data, pt.len, &ct)) != EML_OK)
		goto out;
	eml_buf_reset(&pt);
	if ((rc = send_env(c, EML_MSG_EVIDENCE_REQUEST, rid, ct.data, ct.len)) != EML_OK ||
	    (rc = recv_env(c, &env)) != EML_OK)
		goto out;
	if (env.type == EML_MSG_ERROR) {
		rc = peer_error(&env);
		fatal = final != 0 || !session_survives(rc);
		goto out;
	}
	if (env.type != EML_MSG_EVIDENCE_RESPONSE) {
		eml_err_set_detail("expected EVIDENCE_RESPONSE, got %s", eml_msg_type_name(env.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
	if (sodium_memcmp(env.request_id, rid, sizeof(rid)) != 0) {
		eml_err_set_detail("response for another request");
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	if ((rc = eml_channel_open(c->ch, &env, &pt)) != EML_OK)
		goto out;
	if ((rc = eml_msg_unpack(&eml__v1__evidence_response__descriptor, pt.data, pt.len, pt.len,
	    &m)) != EML_OK)
		goto out;
	r = (const Eml__V1__EvidenceResponse *)m;
	if ((rc = evidence_check(c, r->evidence.data, r->evidence.len, nonce, sizeof(nonce),
	    final != 0)) != EML_OK)
		goto out;
	copy = eml_alloc(r->evidence.len);
	if (copy == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	EML_MEMCPY(copy, r->evidence.data, r->evidence.len);
	*out = copy;
	*len = r->evidence.len;
	fatal = final != 0; /* the agent ended the session after answering */
	rc = EML_OK;
out:
	if (fatal && c != NULL)
		kill_session(c);
	eml_msg_free(m);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&pt); /* the artifact is public */
	eml_buf_free_nowipe(&ct);
	eml_sdk_note(c, rc);
	return (int)rc;
}

EML_API void
eml_client_evidence_free(uint8_t *p, size_t len)
{
	(void)len;
	eml_free(p);
}

/* One sealed request and its sealed answer of type want on an attested
 * handle (job key). A failure ends the session, except a refusal the agent
 * answered with a plain Error. */
eml_err
eml_sdk_sealed_call(struct eml_client *c, uint32_t type, const uint8_t *pt, size_t n,
    uint32_t want, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf ct;
	struct eml_envelope hdr, env;
	uint8_t rid[EML_REQUEST_ID_LEN];
	bool fatal = true;

	memset(&env, 0, sizeof(env));
	eml_buf_init(&ct, EML_FRAME_MAX_DEFAULT);
	if (c->state != EML_SDK_ATTESTED) {
		fatal = false;
		EML_FAIL(rc, EML_ERR_SESSION_NOT_ATTESTED);
	}
	eml_sdk_next_rid(c, rid);
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = EML_PROTO_VERSION;
	hdr.type = type;
	EML_MEMCPY(hdr.request_id, rid, sizeof(rid));
	if ((rc = eml_channel_seal(c->ch, &hdr, pt, n, &ct)) != EML_OK)
		goto out;
	if ((rc = send_env(c, type, rid, ct.data, ct.len)) != EML_OK)
		goto out;
	if ((rc = recv_env(c, &env)) != EML_OK)
		goto out;
	if (env.type == EML_MSG_ERROR) {
		rc = peer_error(&env);
		fatal = !session_survives(rc);
		goto out;
	}
	if (env.type != want || sodium_memcmp(env.request_id, rid, sizeof(rid)) != 0) {
		eml_err_set_detail("expected %s, got %s", eml_msg_type_name(want),
		    eml_msg_type_name(env.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
	if ((rc = eml_channel_open(c->ch, &env, out)) != EML_OK)
		goto out;
	fatal = false;
	rc = EML_OK;
out:
	if (rc != EML_OK && fatal)
		kill_session(c);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&ct);
	return rc;
}

/* ---------------------------------------------------------------- close */

EML_API void
eml_client_close(struct eml_client *c)
{
	if (c == NULL)
		return;
	if (c->state == EML_SDK_ATTESTED && c->ch != NULL && c->fd >= 0) {
		Eml__V1__Close cl = EML__V1__CLOSE__INIT;
		struct eml_envelope hdr;
		struct eml_buf pt, ct;
		uint8_t rid[EML_REQUEST_ID_LEN];

		/* Best effort goodbye: the agent wipes the session at once
		 * instead of at its idle timeout. */
		eml_buf_init(&pt, 64);
		eml_buf_init(&ct, 256);
		eml_sdk_next_rid(c, rid);
		memset(&hdr, 0, sizeof(hdr));
		hdr.version = EML_PROTO_VERSION;
		hdr.type = EML_MSG_CLOSE;
		EML_MEMCPY(hdr.request_id, rid, sizeof(rid));
		c->timeout_ms = 1000;
		if (eml_msg_pack(&cl.base, &pt) != EML_OK ||
		    eml_channel_seal(c->ch, &hdr, pt.data, pt.len, &ct) != EML_OK ||
		    send_env(c, EML_MSG_CLOSE, rid, ct.data, ct.len) != EML_OK)
			eml_err_clear_detail();
		eml_buf_free(&pt);
		eml_buf_free_nowipe(&ct);
	}
	kill_session(c);
	eml_attest_root_free(c->root);
	eml_buf_free_nowipe(&c->rx);
	eml_buf_free_nowipe(&c->tx);
	eml_buf_free(&c->req);
	eml_buf_free(&c->ans);
	forget_key(c);
	eml_free_wipe(c, sizeof(*c));
}

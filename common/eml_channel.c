#include "eml_channel.h"

#include <limits.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "eml_mem.h"

/* docs/PROTOCOL.md §4 fixes every label and layout below; changing one is
 * a protocol version change. */
static const char TRANSCRIPT_LABEL[] = "EphemeralML v1 transcript";
static const char INFO_C2S[] = "EphemeralML v1 c2s key";
static const char INFO_S2C[] = "EphemeralML v1 s2c key";
static const char INFO_SID[] = "EphemeralML v1 session id";
static const uint8_t AD_LABEL[5] = { 'E', 'M', 'L', 'v', '1' };

#define DIR_C2S 1u
#define DIR_S2C 2u
#define KEY_LEN 32u
#define NONCE_LEN 12u
#define AD_LEN (5u + 1u + 8u + 4u + 4u + EML_REQUEST_ID_LEN)
#define HELLO_MAX 1024u
#define ATT_RESP_MAX (64u * 1024u)

/* AES-256-GCM through OpenSSL EVP (AES-NI/VAES): one context per
 * direction keyed once at derive(); each frame only sets its nonce. */
#define AEAD_CHUNK (1u << 30) /* EVP lengths are int */
#define HOOK_CHUNK ((size_t)256 << 10)
_Static_assert(EML_X25519_KEY_LEN == crypto_scalarmult_BYTES, "x25519 size");
_Static_assert(EML_CHANNEL_HASH_LEN == crypto_hash_sha256_BYTES, "hash size");

enum ch_role { ROLE_CLIENT = 1, ROLE_SERVER = 2 };
enum ch_state {
	ST_CLIENT_WAIT = 1, /* hello sent, waiting for a verified response */
	ST_SERVER_WAIT = 2, /* hello received, waiting for the document */
	ST_OPEN = 3,
	ST_CLOSED = 4,
};

struct ch_secrets {
	uint8_t sk[EML_X25519_KEY_LEN];
	uint8_t shared[EML_X25519_KEY_LEN];
	uint8_t k_send[KEY_LEN];
	uint8_t k_recv[KEY_LEN];
	uint8_t session_id[EML_CHANNEL_SESSION_ID_LEN];
};

struct eml_channel {
	enum ch_role role;
	enum ch_state state;
	struct ch_secrets *sec; /* eml_secure_alloc */
	uint8_t own_pk[EML_X25519_KEY_LEN];
	uint8_t client_pk[EML_X25519_KEY_LEN];
	uint8_t nonce[EML_HELLO_NONCE_LEN];
	uint8_t th[EML_CHANNEL_HASH_LEN];
	struct eml_buf hello; /* the exact ClientHello bytes */
	uint64_t send_ctr;
	uint64_t recv_ctr;
	uint8_t send_dir;
	uint8_t recv_dir;
	EVP_CIPHER_CTX *send_cx; /* AES-256-GCM, keyed with k_send */
	EVP_CIPHER_CTX *recv_cx; /* keyed with k_recv */
	/* eml_channel_open_begin .. _final: ciphertext bytes still to come
	 * (rx_streaming while one is under way) */
	bool rx_streaming;
	bool sec_spare; /* sec made outside an arena: may become the spare */
	size_t rx_left;
	bool tx_streaming; /* eml_channel_seal_begin .. _final under way */
};

/*
 * Outside an arena (libeml: one channel per handshake) the secrets block
 * is a locked mapping of its own (sodium_malloc: mmap, guard pages,
 * mlock, and munlock, munmap at the end), the client's largest local
 * cost of a handshake after the key pair on a VM. One such block, wiped,
 * is kept for the next channel. Inside an arena (the agent's sessions)
 * blocks come from the arena, wiped with it; not kept here.
 */
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ch_secrets *spare_sec;
static uint64_t spare_taken; /* eml_channel_test_spare_taken */

static struct ch_secrets *
sec_alloc(bool *spareable)
{
	struct ch_secrets *s = NULL;

	*spareable = eml_arena_current() == NULL;
	if (*spareable) {
		pthread_mutex_lock(&spare_mu);
		s = spare_sec;
		spare_sec = NULL;
		spare_taken += s != NULL;
		pthread_mutex_unlock(&spare_mu);
	}
	return s != NULL ? s : eml_secure_alloc(sizeof(*s)); /* both zero */
}

static void
sec_free(struct ch_secrets *s, bool spareable)
{
	if (spareable) {
		sodium_memzero(s, sizeof(*s));
		pthread_mutex_lock(&spare_mu);
		if (spare_sec == NULL) {
			spare_sec = s;
			s = NULL;
		}
		pthread_mutex_unlock(&spare_mu);
	}
	if (s != NULL)
		eml_secure_free(s); /* wipes */
}

void
eml_channel_close(struct eml_channel *ch)
{
	if (ch == NULL)
		return;
	/* EVP_CIPHER_CTX_free cleanses the key schedule and GCM state. */
	EVP_CIPHER_CTX_free(ch->send_cx);
	EVP_CIPHER_CTX_free(ch->recv_cx);
	ch->send_cx = NULL;
	ch->recv_cx = NULL;
	ch->rx_streaming = false;
	ch->tx_streaming = false;
	if (ch->sec != NULL) {
		sec_free(ch->sec, ch->sec_spare); /* wiped */
		ch->sec = NULL;
	}
	eml_buf_free(&ch->hello);
	eml_wipe(ch->th, sizeof(ch->th));
	ch->state = ST_CLOSED;
}

void
eml_channel_free(struct eml_channel *ch)
{
	if (ch == NULL)
		return;
	eml_channel_close(ch);
	eml_free_wipe(ch, sizeof(*ch));
}

bool
eml_channel_is_open(const struct eml_channel *ch)
{
	return ch != NULL && ch->state == ST_OPEN;
}

const void *
eml_channel_test_secrets(const struct eml_channel *ch)
{
	return ch != NULL ? ch->sec : NULL;
}

uint64_t
eml_channel_test_spare_taken(void)
{
	uint64_t n;

	pthread_mutex_lock(&spare_mu);
	n = spare_taken;
	pthread_mutex_unlock(&spare_mu);
	return n;
}

void
eml_channel_test_set_counters(struct eml_channel *ch, uint64_t send, uint64_t recv)
{
	if (ch != NULL) {
		ch->send_ctr = send;
		ch->recv_ctr = recv;
	}
}

/* Close and return err, recorded at the caller's line. */
#define CH_FAIL(ch, err)                                                       \
	do {                                                                   \
		eml_channel_close(ch);                                         \
		EML_BAIL(err);                                                 \
	} while (0)

static eml_err
channel_alloc(enum ch_role role, struct eml_channel **out)
{
	struct eml_channel *ch;

	EML_GUARD(eml_mem_init());
	ch = eml_calloc(1, sizeof(*ch));
	EML_ENSURE(ch != NULL, EML_ERR_NOMEM);
	ch->role = role;
	ch->sec = sec_alloc(&ch->sec_spare);
	if (ch->sec == NULL) {
		eml_free(ch);
		EML_BAIL(EML_ERR_NOMEM);
	}
	eml_buf_init(&ch->hello, HELLO_MAX);
	ch->send_dir = role == ROLE_CLIENT ? DIR_C2S : DIR_S2C;
	ch->recv_dir = role == ROLE_CLIENT ? DIR_S2C : DIR_C2S;
	*out = ch;
	return EML_OK;
}

/* X25519; libsodium refuses (returns -1 for) an all-zero result, which is
 * what a low-order peer point produces. Checked again here so the rule does
 * not depend on the library version. */
static eml_err
x25519(uint8_t shared[EML_X25519_KEY_LEN], const uint8_t sk[EML_X25519_KEY_LEN],
    const uint8_t pk[EML_X25519_KEY_LEN])
{
	if (crypto_scalarmult(shared, sk, pk) != 0 || sodium_is_zero(shared, EML_X25519_KEY_LEN)) {
		sodium_memzero(shared, EML_X25519_KEY_LEN);
		eml_err_set_detail("peer X25519 key gives an all-zero shared secret");
		EML_BAIL(EML_ERR_CRYPTO_KEY);
	}
	return EML_OK;
}

static void
hash_len_prefixed(crypto_hash_sha256_state *st, const uint8_t *p, size_t n)
{
	uint8_t len[4];

	eml_store_u32be(len, (uint32_t)n);
	crypto_hash_sha256_update(st, len, sizeof(len));
	crypto_hash_sha256_update(st, p, n);
}

/* HKDF-Expand (RFC 5869 §2.3) for one block: T(1) = HMAC(PRK, info | 0x01). */
static void
hkdf_expand1(uint8_t out[32], const uint8_t prk[32], const char *info)
{
	crypto_auth_hmacsha256_state st;
	static const uint8_t one = 1;

	crypto_auth_hmacsha256_init(&st, prk, 32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)info, strlen(info));
	crypto_auth_hmacsha256_update(&st, &one, 1);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/*
 * PROTOCOL.md §4:
 *   TH  = SHA-256(label | u32be(len hello) | hello | u32be(len resp) | resp
 *                 | client_pk | agent_pk)
 *   PRK = HKDF-Extract(salt = TH, IKM = X25519 shared secret)
 *   k_c2s, k_s2c, session id = HKDF-Expand(PRK, label, ...)
 */
static eml_err
derive(struct eml_channel *ch, const uint8_t *att_resp, size_t n, const uint8_t agent_pk[32])
{
	crypto_hash_sha256_state hs;
	crypto_auth_hmacsha256_state ms;
	/* PRK and the session-id OKM on the stack, wiped below like the HMAC
	 * state beside them: a locked block of its own outside an arena was
	 * a mapping, mlock, munlock and munmap per handshake. */
	uint8_t km[64];
	uint8_t *prk = km, *okm = km + 32;
	eml_err rc = EML_ERR_INTERNAL;
	crypto_hash_sha256_init(&hs);
	crypto_hash_sha256_update(&hs, (const uint8_t *)TRANSCRIPT_LABEL, strlen(TRANSCRIPT_LABEL));
	hash_len_prefixed(&hs, ch->hello.data, ch->hello.len);
	hash_len_prefixed(&hs, att_resp, n);
	crypto_hash_sha256_update(&hs, ch->client_pk, EML_X25519_KEY_LEN);
	crypto_hash_sha256_update(&hs, agent_pk, EML_X25519_KEY_LEN);
	crypto_hash_sha256_final(&hs, ch->th);

	/* HKDF-Extract (RFC 5869 §2.2): PRK = HMAC-Hash(salt, IKM). */
	crypto_auth_hmacsha256_init(&ms, ch->th, sizeof(ch->th));
	crypto_auth_hmacsha256_update(&ms, ch->sec->shared, EML_X25519_KEY_LEN);
	crypto_auth_hmacsha256_final(&ms, prk);
	sodium_memzero(&ms, sizeof(ms));

	hkdf_expand1(ch->role == ROLE_CLIENT ? ch->sec->k_send : ch->sec->k_recv, prk, INFO_C2S);
	hkdf_expand1(ch->role == ROLE_CLIENT ? ch->sec->k_recv : ch->sec->k_send, prk, INFO_S2C);
	hkdf_expand1(okm, prk, INFO_SID);
	memcpy(ch->sec->session_id, okm, EML_CHANNEL_SESSION_ID_LEN);
	/* The key schedule of each direction is made once, here. */
	ch->send_cx = EVP_CIPHER_CTX_new();
	ch->recv_cx = EVP_CIPHER_CTX_new();
	if (ch->send_cx == NULL || ch->recv_cx == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (EVP_EncryptInit_ex(ch->send_cx, EVP_aes_256_gcm(), NULL, ch->sec->k_send, NULL) != 1 ||
	    EVP_DecryptInit_ex(ch->recv_cx, EVP_aes_256_gcm(), NULL, ch->sec->k_recv, NULL) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	/* The contexts hold the keys now; no second copy stays around. */
	sodium_memzero(ch->sec->k_send, sizeof(ch->sec->k_send));
	sodium_memzero(ch->sec->k_recv, sizeof(ch->sec->k_recv));

	/* Forward secrecy: the ephemeral private key and the shared secret
	 * are not needed any more. */
	sodium_memzero(ch->sec->sk, sizeof(ch->sec->sk));
	sodium_memzero(ch->sec->shared, sizeof(ch->sec->shared));
	ch->send_ctr = 0;
	ch->recv_ctr = 0;
	ch->state = ST_OPEN;
	rc = EML_OK;
out:
	sodium_memzero(km, sizeof(km));
	return rc;
}

eml_err
eml_channel_client_new(struct eml_channel **out, struct eml_buf *hello)
{
	Eml__V1__ClientHello m = EML__V1__CLIENT_HELLO__INIT;
	struct eml_channel *ch = NULL;
	size_t before;
	eml_err rc = EML_ERR_INTERNAL;

	EML_ENSURE(out != NULL && hello != NULL, EML_ERR_NULL);
	*out = NULL;
	before = hello->len;
	rc = channel_alloc(ROLE_CLIENT, &ch);
	if (rc != EML_OK)
		goto out;
	randombytes_buf(ch->nonce, sizeof(ch->nonce));
	randombytes_buf(ch->sec->sk, sizeof(ch->sec->sk));
	if (crypto_scalarmult_base(ch->own_pk, ch->sec->sk) != 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	memcpy(ch->client_pk, ch->own_pk, sizeof(ch->own_pk));
	m.nonce.data = ch->nonce;
	m.nonce.len = sizeof(ch->nonce);
	m.client_public_key.data = ch->own_pk;
	m.client_public_key.len = sizeof(ch->own_pk);
	m.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
	rc = eml_msg_pack(&m.base, &ch->hello);
	if (rc != EML_OK)
		goto out;
	rc = eml_buf_append(hello, ch->hello.data, ch->hello.len);
	if (rc != EML_OK)
		goto out;
	ch->state = ST_CLIENT_WAIT;
	*out = ch;
	ch = NULL;
	rc = EML_OK;
out:
	if (rc != EML_OK)
		hello->len = before;
	eml_channel_free(ch);
	return rc;
}

eml_err
eml_channel_client_nonce(const struct eml_channel *ch, uint8_t nonce[EML_HELLO_NONCE_LEN])
{
	EML_ENSURE(ch != NULL && nonce != NULL, EML_ERR_NULL);
	EML_ENSURE(ch->role == ROLE_CLIENT, EML_ERR_CRYPTO_STATE);
	memcpy(nonce, ch->nonce, EML_HELLO_NONCE_LEN);
	return EML_OK;
}

eml_err
eml_channel_client_finish(struct eml_channel *ch, const uint8_t *att_resp, size_t n,
    const uint8_t agent_pk[EML_X25519_KEY_LEN])
{
	eml_err rc;

	EML_ENSURE(ch != NULL && agent_pk != NULL && (att_resp != NULL || n == 0), EML_ERR_NULL);
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (ch->role != ROLE_CLIENT || ch->state != ST_CLIENT_WAIT)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	if (n == 0 || n > ATT_RESP_MAX) {
		eml_err_set_detail("attestation response of %zu bytes", n);
		CH_FAIL(ch, EML_ERR_PROTO_FIELD);
	}
	rc = x25519(ch->sec->shared, ch->sec->sk, agent_pk);
	if (rc != EML_OK)
		CH_FAIL(ch, rc);
	rc = derive(ch, att_resp, n, agent_pk);
	if (rc != EML_OK)
		CH_FAIL(ch, rc);
	return EML_OK;
}

eml_err
eml_channel_server_new(struct eml_channel **out, const uint8_t *hello, size_t n,
    uint8_t client_nonce[EML_HELLO_NONCE_LEN], uint8_t agent_pk[EML_X25519_KEY_LEN])
{
	ProtobufCMessage *pm = NULL;
	Eml__V1__ClientHello *h;
	struct eml_channel *ch = NULL;
	eml_err rc = EML_ERR_INTERNAL;

	EML_ENSURE(out != NULL && client_nonce != NULL && agent_pk != NULL, EML_ERR_NULL);
	EML_ENSURE(hello != NULL || n == 0, EML_ERR_NULL);
	*out = NULL;
	rc = eml_msg_unpack(&eml__v1__client_hello__descriptor, hello, n, HELLO_MAX, &pm);
	if (rc != EML_OK)
		goto out;
	h = (Eml__V1__ClientHello *)pm;
	rc = eml_msg_client_hello_check(h);
	if (rc != EML_OK)
		goto out;
	rc = channel_alloc(ROLE_SERVER, &ch);
	if (rc != EML_OK)
		goto out;
	memcpy(ch->nonce, h->nonce.data, EML_HELLO_NONCE_LEN);
	memcpy(ch->client_pk, h->client_public_key.data, EML_X25519_KEY_LEN);
	rc = eml_buf_append(&ch->hello, hello, n);
	if (rc != EML_OK)
		goto out;
	randombytes_buf(ch->sec->sk, sizeof(ch->sec->sk));
	if (crypto_scalarmult_base(ch->own_pk, ch->sec->sk) != 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	/* Refuse a low-order client key before any attestation is made. */
	rc = x25519(ch->sec->shared, ch->sec->sk, ch->client_pk);
	if (rc != EML_OK)
		goto out;
	memcpy(client_nonce, ch->nonce, EML_HELLO_NONCE_LEN);
	memcpy(agent_pk, ch->own_pk, EML_X25519_KEY_LEN);
	ch->state = ST_SERVER_WAIT;
	*out = ch;
	ch = NULL;
	rc = EML_OK;
out:
	eml_msg_free(pm);
	eml_channel_free(ch);
	return rc;
}

eml_err
eml_channel_server_finish(struct eml_channel *ch, const uint8_t *doc, size_t doc_len,
    struct eml_buf *att_resp)
{
	Eml__V1__AttestationResponse m = EML__V1__ATTESTATION_RESPONSE__INIT;
	size_t before;
	eml_err rc;

	EML_ENSURE(ch != NULL && att_resp != NULL && (doc != NULL || doc_len == 0), EML_ERR_NULL);
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (ch->role != ROLE_SERVER || ch->state != ST_SERVER_WAIT)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	if (doc_len == 0) {
		eml_err_set_detail("empty attestation document");
		CH_FAIL(ch, EML_ERR_PROTO_FIELD);
	}
	m.attestation_document.data = (uint8_t *)(uintptr_t)doc;
	m.attestation_document.len = doc_len;
	m.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
	if (protobuf_c_message_get_packed_size(&m.base) > ATT_RESP_MAX) {
		eml_err_set_detail("attestation response above %u bytes", ATT_RESP_MAX);
		CH_FAIL(ch, EML_ERR_PROTO_TOO_LARGE);
	}
	before = att_resp->len;
	rc = eml_msg_pack(&m.base, att_resp);
	if (rc != EML_OK)
		CH_FAIL(ch, rc);
	rc = derive(ch, att_resp->data + before, att_resp->len - before, ch->own_pk);
	if (rc != EML_OK) {
		att_resp->len = before;
		CH_FAIL(ch, rc);
	}
	return EML_OK;
}

/* Nonce = u32be(direction) | u64be(counter); AD = "EMLv1" | direction |
 * u64be(counter) | u32be(version) | u32be(type) | request_id. */
static void
nonce_and_ad(uint8_t nonce[NONCE_LEN], uint8_t ad[AD_LEN], uint8_t dir, uint64_t ctr,
    const struct eml_envelope *hdr)
{
	eml_store_u32be(nonce, dir);
	eml_store_u64be(nonce + 4, ctr);
	memcpy(ad, AD_LABEL, sizeof(AD_LABEL));
	ad[5] = dir;
	eml_store_u64be(ad + 6, ctr);
	eml_store_u32be(ad + 14, hdr->version);
	eml_store_u32be(ad + 18, hdr->type);
	memcpy(ad + 22, hdr->request_id, EML_REQUEST_ID_LEN);
}

/* Shared checks for seal and open; closes on failure. */
static eml_err
check_use(struct eml_channel *ch, const struct eml_envelope *hdr, uint64_t ctr)
{
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (ch->state != ST_OPEN)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	if (hdr->version != EML_PROTO_VERSION)
		CH_FAIL(ch, EML_ERR_PROTO_VERSION);
	if (!eml_msg_type_sealed(hdr->type)) {
		eml_err_set_detail("%s is not a sealed type", eml_msg_type_name(hdr->type));
		CH_FAIL(ch, EML_ERR_PROTO_MSG_TYPE);
	}
	/* The last counter value is never used, so the counter cannot wrap
	 * and repeat a nonce. */
	if (ctr == UINT64_MAX)
		CH_FAIL(ch, EML_ERR_CRYPTO_COUNTER);
	return EML_OK;
}

/* AES-256-GCM over p[0..n) in place or into w (w may equal p); the tag
 * goes to tag. cx is the send context keyed at derive(). 0 on success. */
static int
gcm_seal(EVP_CIPHER_CTX *cx, const uint8_t nonce[NONCE_LEN], const uint8_t ad[AD_LEN],
    const uint8_t *p, size_t n, uint8_t *w, uint8_t tag[EML_CHANNEL_TAG_LEN])
{
	int l = 0;

	if (EVP_EncryptInit_ex(cx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(cx, NULL, &l, ad, AD_LEN) != 1)
		return -1;
	for (size_t off = 0; off < n;) {
		size_t c = n - off < AEAD_CHUNK ? n - off : AEAD_CHUNK;

		if (EVP_EncryptUpdate(cx, w + off, &l, p + off, (int)c) != 1 || (size_t)l != c)
			return -1;
		off += c;
	}
	if (EVP_EncryptFinal_ex(cx, w + n, &l) != 1 || l != 0 ||
	    EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, EML_CHANNEL_TAG_LEN, tag) != 1)
		return -1;
	return 0;
}

/* Inverse of gcm_seal: c[0..n) to w (w may equal c), checked against tag.
 * With fn, cache-sized pieces: fn reads each just before it is decrypted
 * (one pass over memory, not two); fn may be NULL. The plaintext written
 * before the tag check is the caller's to wipe on failure. 0 when it
 * authenticates. */
static int
gcm_open(EVP_CIPHER_CTX *cx, const uint8_t nonce[NONCE_LEN], const uint8_t ad[AD_LEN],
    const uint8_t *c, size_t n, const uint8_t tag[EML_CHANNEL_TAG_LEN], uint8_t *w,
    eml_channel_ct_fn fn, void *arg)
{
	uint8_t t[EML_CHANNEL_TAG_LEN];
	int l = 0;
	size_t chunk = fn != NULL ? HOOK_CHUNK : AEAD_CHUNK;

	memcpy(t, tag, sizeof(t)); /* the ctrl takes a non-const pointer */
	if (EVP_DecryptInit_ex(cx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(cx, NULL, &l, ad, AD_LEN) != 1)
		return -1;
	for (size_t off = 0; off < n;) {
		size_t k = n - off < chunk ? n - off : chunk;

		if (fn != NULL && fn(arg, c + off, k) != 0)
			return -1;
		if (EVP_DecryptUpdate(cx, w + off, &l, c + off, (int)k) != 1 || (size_t)l != k)
			return -1;
		off += k;
	}
	if (EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, EML_CHANNEL_TAG_LEN, t) != 1 ||
	    EVP_DecryptFinal_ex(cx, w + n, &l) != 1 || l != 0)
		return -1;
	return 0;
}

eml_err
eml_channel_seal(struct eml_channel *ch, const struct eml_envelope *hdr, const uint8_t *pt,
    size_t n, struct eml_buf *out)
{
	uint8_t nonce[NONCE_LEN], ad[AD_LEN];
	size_t total;
	uint8_t *w;
	eml_err rc;

	EML_ENSURE(ch != NULL && hdr != NULL && out != NULL && (pt != NULL || n == 0),
	    EML_ERR_NULL);
	EML_GUARD(check_use(ch, hdr, ch->send_ctr));
	if (ch->tx_streaming)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	if (eml_add_overflow(n, (size_t)EML_CHANNEL_TAG_LEN, &total))
		CH_FAIL(ch, EML_ERR_OVERFLOW);
	rc = eml_buf_extend(out, total, &w);
	if (rc != EML_OK)
		CH_FAIL(ch, rc);
	nonce_and_ad(nonce, ad, ch->send_dir, ch->send_ctr, hdr);
	if (gcm_seal(ch->send_cx, nonce, ad, pt, n, w, w + n) != 0) {
		eml_wipe(w, total);
		out->len -= total;
		CH_FAIL(ch, EML_ERR_CRYPTO);
	}
	ch->send_ctr++;
	return EML_OK;
}

eml_err
eml_channel_seal_in_place(struct eml_channel *ch, const struct eml_envelope *hdr,
    struct eml_buf *buf, size_t off)
{
	uint8_t nonce[NONCE_LEN], ad[AD_LEN];
	size_t n;
	uint8_t *w;
	eml_err rc;

	EML_ENSURE(ch != NULL && hdr != NULL && buf != NULL && off <= buf->len, EML_ERR_NULL);
	n = buf->len - off;
	rc = check_use(ch, hdr, ch->send_ctr);
	if (rc == EML_OK && ch->tx_streaming)
		rc = EML_ERR_CRYPTO_STATE;
	if (rc == EML_OK)
		rc = eml_buf_extend(buf, EML_CHANNEL_TAG_LEN, &w);
	if (rc != EML_OK) {
		eml_wipe(buf->data + off, n);
		buf->len = off;
		if (rc == EML_ERR_NULL)
			return rc;
		CH_FAIL(ch, rc);
	}
	nonce_and_ad(nonce, ad, ch->send_dir, ch->send_ctr, hdr);
	/* encrypted in place: the tag lands after the text */
	if (gcm_seal(ch->send_cx, nonce, ad, buf->data + off, n, buf->data + off,
		buf->data + off + n) != 0) {
		eml_wipe(buf->data + off, n + EML_CHANNEL_TAG_LEN);
		buf->len = off;
		CH_FAIL(ch, EML_ERR_CRYPTO);
	}
	ch->send_ctr++;
	return EML_OK;
}

/* Both opens: env->body's plaintext appended to out, or (out NULL) written
 * over body, which must be env->body (in place); fn as for gcm_open. On
 * failure the written plaintext is wiped (in place: the whole body) and
 * the channel closes. */
static eml_err
open_body(struct eml_channel *ch, const struct eml_envelope *env, struct eml_buf *out,
    uint8_t *body, size_t *pt_len, eml_channel_ct_fn fn, void *arg)
{
	uint8_t nonce[NONCE_LEN], ad[AD_LEN];
	size_t n;
	uint8_t *w = body;
	eml_err rc;

	EML_ENSURE(ch != NULL && env != NULL && pt_len != NULL, EML_ERR_NULL);
	EML_ENSURE(out != NULL ? env->body != NULL || env->body_len == 0
			       : body != NULL && env->body == body,
	    EML_ERR_NULL);
	*pt_len = 0;
	EML_GUARD(check_use(ch, env, ch->recv_ctr));
	if (ch->rx_streaming)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	if (env->body_len < EML_CHANNEL_TAG_LEN) {
		eml_err_set_detail("sealed body shorter than a tag");
		CH_FAIL(ch, EML_ERR_CRYPTO_AUTH);
	}
	n = env->body_len - EML_CHANNEL_TAG_LEN;
	if (out != NULL && (rc = eml_buf_extend(out, n, &w)) != EML_OK)
		CH_FAIL(ch, rc);
	nonce_and_ad(nonce, ad, ch->recv_dir, ch->recv_ctr, env);
	if (gcm_open(ch->recv_cx, nonce, ad, env->body, n, env->body + n, w, fn, arg) != 0) {
		if (out != NULL) {
			eml_wipe(w, n);
			out->len -= n;
		} else {
			eml_wipe(body, env->body_len);
		}
		eml_err_set_detail("sealed %s frame %llu does not authenticate",
		    eml_msg_type_name(env->type), (unsigned long long)ch->recv_ctr);
		CH_FAIL(ch, EML_ERR_CRYPTO_AUTH);
	}
	ch->recv_ctr++;
	*pt_len = n;
	return EML_OK;
}

eml_err
eml_channel_open(struct eml_channel *ch, const struct eml_envelope *env, struct eml_buf *out)
{
	size_t n;

	EML_ENSURE(out != NULL, EML_ERR_NULL);
	return open_body(ch, env, out, NULL, &n, NULL, NULL);
}

eml_err
eml_channel_open_in_place_x(struct eml_channel *ch, const struct eml_envelope *env,
    uint8_t *body, size_t *pt_len, eml_channel_ct_fn fn, void *arg)
{
	return open_body(ch, env, NULL, body, pt_len, fn, arg);
}

eml_err
eml_channel_open_in_place(struct eml_channel *ch, const struct eml_envelope *env, uint8_t *body,
    size_t *pt_len)
{
	return open_body(ch, env, NULL, body, pt_len, NULL, NULL);
}

eml_err
eml_channel_seal_begin(struct eml_channel *ch, const struct eml_envelope *hdr)
{
	uint8_t nonce[NONCE_LEN], ad[AD_LEN];
	int l = 0;

	EML_ENSURE(ch != NULL && hdr != NULL, EML_ERR_NULL);
	EML_GUARD(check_use(ch, hdr, ch->send_ctr));
	if (ch->tx_streaming)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	nonce_and_ad(nonce, ad, ch->send_dir, ch->send_ctr, hdr);
	if (EVP_EncryptInit_ex(ch->send_cx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(ch->send_cx, NULL, &l, ad, AD_LEN) != 1)
		CH_FAIL(ch, EML_ERR_CRYPTO);
	ch->tx_streaming = true;
	return EML_OK;
}

eml_err
eml_channel_seal_update(struct eml_channel *ch, const uint8_t *p, size_t n, uint8_t *w)
{
	int l = 0;

	EML_ENSURE(ch != NULL && ((p != NULL && w != NULL) || n == 0), EML_ERR_NULL);
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (!ch->tx_streaming)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < AEAD_CHUNK ? n - off : AEAD_CHUNK;

		if (EVP_EncryptUpdate(ch->send_cx, w + off, &l, p + off, (int)k) != 1 ||
		    (size_t)l != k)
			CH_FAIL(ch, EML_ERR_CRYPTO);
		off += k;
	}
	return EML_OK;
}

eml_err
eml_channel_seal_final(struct eml_channel *ch, uint8_t tag[EML_CHANNEL_TAG_LEN])
{
	uint8_t end[16];
	int l = 0;

	EML_ENSURE(ch != NULL && tag != NULL, EML_ERR_NULL);
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (!ch->tx_streaming)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	ch->tx_streaming = false;
	if (EVP_EncryptFinal_ex(ch->send_cx, end, &l) != 1 || l != 0 ||
	    EVP_CIPHER_CTX_ctrl(ch->send_cx, EVP_CTRL_GCM_GET_TAG, EML_CHANNEL_TAG_LEN, tag) != 1)
		CH_FAIL(ch, EML_ERR_CRYPTO);
	ch->send_ctr++;
	return EML_OK;
}

void
eml_channel_seal_abort(struct eml_channel *ch)
{
	if (ch != NULL && ch->tx_streaming)
		eml_channel_close(ch);
}

eml_err
eml_channel_open_begin(struct eml_channel *ch, const struct eml_envelope *hdr, size_t body_len)
{
	uint8_t nonce[NONCE_LEN], ad[AD_LEN];
	int l = 0;

	EML_ENSURE(ch != NULL && hdr != NULL, EML_ERR_NULL);
	EML_GUARD(check_use(ch, hdr, ch->recv_ctr));
	if (ch->rx_streaming)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	if (body_len < EML_CHANNEL_TAG_LEN) {
		eml_err_set_detail("sealed body shorter than a tag");
		CH_FAIL(ch, EML_ERR_CRYPTO_AUTH);
	}
	nonce_and_ad(nonce, ad, ch->recv_dir, ch->recv_ctr, hdr);
	if (EVP_DecryptInit_ex(ch->recv_cx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(ch->recv_cx, NULL, &l, ad, AD_LEN) != 1)
		CH_FAIL(ch, EML_ERR_CRYPTO);
	ch->rx_streaming = true;
	ch->rx_left = body_len - EML_CHANNEL_TAG_LEN;
	return EML_OK;
}

eml_err
eml_channel_open_update(struct eml_channel *ch, uint8_t *p, size_t n)
{
	int l = 0;

	EML_ENSURE(ch != NULL && (p != NULL || n == 0), EML_ERR_NULL);
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (!ch->rx_streaming || n > ch->rx_left)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < AEAD_CHUNK ? n - off : AEAD_CHUNK;

		if (EVP_DecryptUpdate(ch->recv_cx, p + off, &l, p + off, (int)k) != 1 ||
		    (size_t)l != k)
			CH_FAIL(ch, EML_ERR_CRYPTO_AUTH);
		off += k;
	}
	ch->rx_left -= n;
	return EML_OK;
}

eml_err
eml_channel_open_final(struct eml_channel *ch, const struct eml_envelope *hdr,
    const uint8_t tag[EML_CHANNEL_TAG_LEN])
{
	uint8_t t[EML_CHANNEL_TAG_LEN], end[16];
	int l = 0;

	EML_ENSURE(ch != NULL && hdr != NULL && tag != NULL, EML_ERR_NULL);
	if (ch->state == ST_CLOSED)
		EML_BAIL(EML_ERR_CRYPTO_CHANNEL_CLOSED);
	if (!ch->rx_streaming || ch->rx_left != 0)
		CH_FAIL(ch, EML_ERR_CRYPTO_STATE);
	ch->rx_streaming = false;
	memcpy(t, tag, sizeof(t)); /* the ctrl takes a non-const pointer */
	if (EVP_CIPHER_CTX_ctrl(ch->recv_cx, EVP_CTRL_GCM_SET_TAG, EML_CHANNEL_TAG_LEN, t) != 1 ||
	    EVP_DecryptFinal_ex(ch->recv_cx, end, &l) != 1 || l != 0) {
		eml_err_set_detail("sealed %s frame %llu does not authenticate",
		    eml_msg_type_name(hdr->type), (unsigned long long)ch->recv_ctr);
		CH_FAIL(ch, EML_ERR_CRYPTO_AUTH);
	}
	ch->recv_ctr++;
	return EML_OK;
}

void
eml_channel_open_abort(struct eml_channel *ch)
{
	if (ch != NULL && ch->rx_streaming)
		eml_channel_close(ch);
}

eml_err
eml_channel_transcript_hash(const struct eml_channel *ch, uint8_t out[EML_CHANNEL_HASH_LEN])
{
	EML_ENSURE(ch != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(ch->state == ST_OPEN, EML_ERR_CRYPTO_STATE);
	memcpy(out, ch->th, EML_CHANNEL_HASH_LEN);
	return EML_OK;
}

eml_err
eml_channel_session_id(const struct eml_channel *ch, uint8_t out[EML_CHANNEL_SESSION_ID_LEN])
{
	EML_ENSURE(ch != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(ch->state == ST_OPEN, EML_ERR_CRYPTO_STATE);
	memcpy(out, ch->sec->session_id, EML_CHANNEL_SESSION_ID_LEN);
	return EML_OK;
}

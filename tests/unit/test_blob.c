/* Sealed weight blob: header format, sealing, and fail-closed opening. */
#include "eml_test.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_blob.h"

struct sealed {
	uint8_t key[EML_BLOB_KEY_LEN];
	uint8_t id[EML_BLOB_ID_LEN];
	uint8_t *plain;
	size_t plen;
	uint32_t cs;
	struct eml_buf file;
};

static eml_err
sink(void *ctx, const void *p, size_t n)
{
	return eml_buf_append(ctx, p, n);
}

static void
seal(struct sealed *s, size_t plen, uint32_t cs, uint64_t *rng)
{
	struct eml_blob_writer *w = NULL;
	size_t half = plen / 3;

	memset(s, 0, sizeof(*s));
	s->plen = plen;
	s->cs = cs;
	s->plain = eml_alloc(plen + 1);
	assert_non_null(s->plain);
	eml_test_fill(rng, s->plain, plen);
	randombytes_buf(s->key, sizeof(s->key));
	eml_buf_init(&s->file, (size_t)1 << 30);
	assert_eml_ok(eml_blob_writer_new(s->key, cs, plen, sink, &s->file, &w));
	/* in two uneven pieces, to cross chunk edges mid-put */
	assert_eml_ok(eml_blob_writer_put(w, s->plain, half));
	assert_eml_ok(eml_blob_writer_put(w, s->plain + half, plen - half));
	assert_eml_ok(eml_blob_writer_finish(w, s->id));
	eml_blob_writer_free(w);
}

static void
sealed_free(struct sealed *s)
{
	eml_free(s->plain);
	eml_buf_free_nowipe(&s->file);
}

static struct eml_blob_expect
expect_of(const struct sealed *s)
{
	struct eml_blob_expect e;
	uint64_t fsize = 0;

	memset(&e, 0, sizeof(e));
	assert_eml_ok(eml_blob_file_size(s->plen, s->cs, &fsize));
	e.key = s->key;
	e.content_id = s->id;
	e.cipher = EML_BLOB_CIPHER_XCHACHA20POLY1305;
	e.chunk_size = s->cs;
	e.plaintext_length = s->plen;
	e.file_size = fsize;
	return e;
}

static eml_err
open_bytes(const struct sealed *s, const uint8_t *file, size_t n, uint8_t *dst)
{
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e = expect_of(s);

	eml_blob_source_mem(&src, &mem, file, n);
	return eml_blob_open(&src, &e, dst, s->plen);
}

/* Room for the plaintext (dst) and for an altered copy of the file (bad). */
static void
alloc_dst_bad(const struct sealed *s, uint8_t **dst, uint8_t **bad)
{
	*dst = eml_alloc(s->plen);
	*bad = eml_alloc(s->file.len);
	assert_non_null(*dst);
	assert_non_null(*bad);
}

/* bad: the sealed file with the low bit of byte off flipped. */
static void
alter_file(uint8_t *bad, const struct sealed *s, size_t off)
{
	memcpy(bad, s->file.data, s->file.len);
	bad[off] ^= 0x01;
}

/* bad_id: the content id with mask flipped in byte i. */
static void
alter_id(uint8_t bad_id[EML_BLOB_ID_LEN], const struct sealed *s, size_t i, uint8_t mask)
{
	memcpy(bad_id, s->id, EML_BLOB_ID_LEN);
	bad_id[i] ^= mask;
}

/* The open into dst fails with want, and dst is left all zero. */
static void
open_fails_wiped(struct eml_blob_source *src, const struct eml_blob_expect *e, uint8_t *dst,
    size_t n, eml_err want)
{
	assert_eml(eml_blob_open(src, e, dst, n), want);
	assert_true(sodium_is_zero(dst, n));
}

/* The header layout written out by hand from docs/SEALED_BLOB.md. */
static void
header_known_answer(void **state)
{
	uint8_t want[EML_BLOB_HEADER_LEN] = { 'E', 'M', 'L', 'B', 'L', 'O', 'B', 0, 0, 1, 0, 1,
		0, 0, 0x10, 0, /* chunk size 4096 */
		0, 0, 0, 0, 0, 0, 0, 3, /* 3 chunks */
		0, 0, 0, 0, 0, 0, 0x20, 0x01, /* 8193 bytes */
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct eml_blob_header h;
	uint8_t out[EML_BLOB_HEADER_LEN];

	(void)state;
	assert_eml_ok(eml_blob_header_parse(want, sizeof(want), &h));
	assert_int_equal(h.version, 1);
	assert_int_equal(h.cipher, 1);
	assert_int_equal(h.chunk_size, 4096);
	assert_int_equal(h.chunk_count, 3);
	assert_int_equal(h.plaintext_length, 8193);
	assert_int_equal(h.nonce_prefix[15], 16);
	eml_blob_header_write(&h, out);
	assert_memory_equal(out, want, sizeof(want));
	/* 3 chunks of 4096 for 8193 bytes: 48 + 8193 + 3 * 16 */
	{
		uint64_t fsize = 0;

		assert_eml_ok(eml_blob_file_size(8193, 4096, &fsize));
		assert_int_equal(fsize, 48 + 8193 + 48);
	}
}

static void
header_rejects(void **state)
{
	uint8_t good[EML_BLOB_HEADER_LEN];
	uint8_t b[EML_BLOB_HEADER_LEN];
	struct eml_blob_header h = { 1, 1, 4096, 3, 8193, { 0 } };

	(void)state;
	eml_blob_header_write(&h, good);
	for (size_t n = 0; n < sizeof(good); n++)
		assert_eml(eml_blob_header_parse(good, n, &h), EML_ERR_PROTO_TRUNCATED);
	memcpy(b, good, sizeof(b));
	b[0] = 'X';
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_HEADER);
	memcpy(b, good, sizeof(b));
	b[9] = 2; /* version 2 */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_VERSION);
	memcpy(b, good, sizeof(b));
	b[11] = 2; /* cipher 2 */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_VERSION);
	memcpy(b, good, sizeof(b));
	b[15] = 1; /* chunk size 4097: not a multiple of 64 */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_HEADER);
	memcpy(b, good, sizeof(b));
	b[12] = 0x10; /* chunk size above 64 MiB */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_HEADER);
	memcpy(b, good, sizeof(b));
	memset(b + 12, 0, 4); /* chunk size 0 */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_HEADER);
	memcpy(b, good, sizeof(b));
	b[23] = 2; /* count 2 for 8193 bytes */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_HEADER);
	memcpy(b, good, sizeof(b));
	b[24] = 0xff; /* plaintext length far above the maximum */
	assert_eml(eml_blob_header_parse(b, sizeof(b), &h), EML_ERR_BLOB_HEADER);
	assert_false(eml_blob_chunk_size_ok(0));
	assert_false(eml_blob_chunk_size_ok(32));
	assert_false(eml_blob_chunk_size_ok(100));
	assert_true(eml_blob_chunk_size_ok(64));
	assert_true(eml_blob_chunk_size_ok(64u << 20));
	assert_false(eml_blob_chunk_size_ok((64u << 20) + 64));
}

/* Round trip over lengths around chunk edges, including empty. */
static void
seal_open_round_trip(void **state)
{
	static const size_t lens[] = { 0, 1, 63, 64, 65, 127, 128, 129, 1000, 4096, 4097 };
	uint64_t rng = eml_test_seed();

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct sealed s;
		uint8_t *dst;
		uint64_t fsize = 0;

		seal(&s, lens[i], 64, &rng);
		assert_eml_ok(eml_blob_file_size(s.plen, s.cs, &fsize));
		assert_int_equal(s.file.len, fsize);
		dst = eml_alloc(s.plen + 1);
		assert_non_null(dst);
		assert_eml_ok(open_bytes(&s, s.file.data, s.file.len, dst));
		assert_memory_equal(dst, s.plain, s.plen);
		{
			uint8_t id[32];

			crypto_hash_sha256(id, s.file.data, s.file.len);
			assert_memory_equal(id, s.id, 32);
		}
		eml_free(dst);
		sealed_free(&s);
	}
}

static void
writer_refuses_misuse(void **state)
{
	uint8_t key[32] = { 0 };
	uint8_t id[32];
	uint8_t data[100] = { 0 };
	struct eml_buf file;
	struct eml_blob_writer *w = NULL;

	(void)state;
	eml_buf_init(&file, 1 << 20);
	assert_eml(eml_blob_writer_new(key, 65, 10, sink, &file, &w), EML_ERR_BLOB_HEADER);
	assert_null(w);
	assert_eml_ok(eml_blob_writer_new(key, 64, 99, sink, &file, &w));
	assert_eml(eml_blob_writer_put(w, data, 100), EML_ERR_OVERFLOW);
	assert_eml_ok(eml_blob_writer_put(w, data, 98));
	assert_eml(eml_blob_writer_finish(w, id), EML_ERR_BLOB_MISMATCH);
	eml_blob_writer_free(w);
	eml_buf_free_nowipe(&file);
}

/* The format is exactly XChaCha20-Poly1305 (IETF) as libsodium computes
 * it, with nonce and additional data as docs/SEALED_BLOB.md lays them out:
 * every chunk opens with libsodium's own implementation. */
static void
chunks_are_libsodium_xchacha(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	uint8_t plain[128];

	(void)state;
	seal(&s, 300, 128, &rng); /* chunks of 128, 128, 44 */
	for (uint64_t i = 0; i < 3; i++) {
		uint8_t nonce[24];
		uint8_t ad[57];
		size_t plen = i < 2 ? 128 : 44;
		size_t off = EML_BLOB_HEADER_LEN + (size_t)i * (128 + 16);
		unsigned long long got = 0;

		memcpy(nonce, s.file.data + 32, 16);
		memset(nonce + 16, 0, 7);
		nonce[23] = (uint8_t)i;
		memcpy(ad, s.file.data, 48);
		memset(ad + 48, 0, 7);
		ad[55] = (uint8_t)i;
		ad[56] = i == 2;
		assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &got, NULL,
		    s.file.data + off, plen + 16, ad, sizeof(ad), nonce, s.key), 0);
		assert_int_equal(got, plen);
		assert_memory_equal(plain, s.plain + i * 128, plen);
		/* and the is-last flag is really in it */
		ad[56] ^= 1;
		assert_int_not_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &got, NULL,
		    s.file.data + off, plen + 16, ad, sizeof(ad), nonce, s.key), 0);
	}
	sealed_free(&s);
}

/* Two seals of the same bytes under the same key still differ (random
 * nonce prefix), and neither contains a 16-byte window of the plaintext. */
static void
ciphertext_hides_plaintext(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;

	(void)state;
	seal(&s, 20000, 1024, &rng);
	for (size_t i = 0; i + 16 <= s.plen; i++)
		assert_null(memmem(s.file.data, s.file.len, s.plain + i, 16));
	sealed_free(&s);
}

static void
open_fails_closed(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	uint8_t *dst;
	uint8_t *b;
	size_t n;
	size_t clen;

	(void)state;
	seal(&s, 64 * 5 + 10, 64, &rng); /* 6 chunks, the last of 10 bytes */
	n = s.file.len;
	clen = 64 + EML_BLOB_TAG_LEN;
	dst = eml_alloc(s.plen);
	b = eml_alloc(n);
	assert_non_null(dst);
	assert_non_null(b);

	/* every bit of the header */
	for (size_t bit = 0; bit < EML_BLOB_HEADER_LEN * 8; bit++) {
		eml_err rc;

		memcpy(b, s.file.data, n);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(dst, 0xa5, s.plen);
		rc = open_bytes(&s, b, n, dst);
		assert_true(rc == EML_ERR_BLOB_HEADER || rc == EML_ERR_BLOB_VERSION ||
		    rc == EML_ERR_BLOB_MISMATCH || rc == EML_ERR_BLOB_AUTH);
		assert_true(sodium_is_zero(dst, s.plen));
	}
	/* sampled bits of every chunk, tags included */
	for (size_t k = 0; k < 400; k++) {
		size_t pos = EML_BLOB_HEADER_LEN + (size_t)(eml_test_rand(&rng) % (n - EML_BLOB_HEADER_LEN));

		memcpy(b, s.file.data, n);
		b[pos] ^= (uint8_t)(1u << (eml_test_rand(&rng) % 8));
		memset(dst, 0xa5, s.plen);
		assert_eml(open_bytes(&s, b, n, dst), EML_ERR_BLOB_AUTH);
		assert_true(sodium_is_zero(dst, s.plen));
	}
	/* swap chunks 1 and 2 */
	memcpy(b, s.file.data, n);
	memcpy(b + EML_BLOB_HEADER_LEN + clen, s.file.data + EML_BLOB_HEADER_LEN + 2 * clen, clen);
	memcpy(b + EML_BLOB_HEADER_LEN + 2 * clen, s.file.data + EML_BLOB_HEADER_LEN + clen, clen);
	assert_eml(open_bytes(&s, b, n, dst), EML_ERR_BLOB_AUTH);
	/* repeat chunk 0 over chunk 1 */
	memcpy(b, s.file.data, n);
	memcpy(b + EML_BLOB_HEADER_LEN + clen, s.file.data + EML_BLOB_HEADER_LEN, clen);
	assert_eml(open_bytes(&s, b, n, dst), EML_ERR_BLOB_AUTH);
	/* drop chunk 1 (the file is one chunk shorter) */
	memcpy(b, s.file.data, EML_BLOB_HEADER_LEN + clen);
	memcpy(b + EML_BLOB_HEADER_LEN + clen, s.file.data + EML_BLOB_HEADER_LEN + 2 * clen,
	    n - EML_BLOB_HEADER_LEN - 2 * clen);
	assert_eml(open_bytes(&s, b, n - clen, dst), EML_ERR_BLOB_MISMATCH);
	/* every truncation, and one extra byte */
	for (size_t cut = 0; cut < n; cut += 7)
		assert_eml(open_bytes(&s, s.file.data, cut, dst), EML_ERR_BLOB_MISMATCH);
	memcpy(b, s.file.data, n);
	{
		uint8_t *longer = eml_alloc(n + 1);

		assert_non_null(longer);
		memcpy(longer, s.file.data, n);
		longer[n] = 0;
		assert_eml(open_bytes(&s, longer, n + 1, dst), EML_ERR_BLOB_MISMATCH);
		eml_free(longer);
	}
	/* wrong key */
	s.key[0] ^= 1;
	memset(dst, 0xa5, s.plen);
	assert_eml(open_bytes(&s, s.file.data, n, dst), EML_ERR_BLOB_AUTH);
	assert_true(sodium_is_zero(dst, s.plen));
	s.key[0] ^= 1;
	/* wrong content id: everything authenticates but the id differs */
	s.id[31] ^= 1;
	assert_eml(open_bytes(&s, s.file.data, n, dst), EML_ERR_BLOB_MISMATCH);
	assert_true(sodium_is_zero(dst, s.plen));
	s.id[31] ^= 1;
	assert_eml_ok(open_bytes(&s, s.file.data, n, dst));
	assert_memory_equal(dst, s.plain, s.plen);
	eml_free(b);
	eml_free(dst);
	sealed_free(&s);
}

/* A truncated last chunk, re-sealed with a stale header claiming fewer
 * bytes: the header is bound into each chunk, so an attacker who rewrites
 * the length to match the cut still fails. */
static void
rewritten_length_fails(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct sealed shorter;
	uint8_t *dst;
	struct eml_blob_header h;

	(void)state;
	seal(&s, 64 * 4, 64, &rng);
	seal(&shorter, 64 * 3, 64, &rng);
	/* take the real blob, claim 3 chunks and cut the 4th */
	assert_eml_ok(eml_blob_header_parse(s.file.data, s.file.len, &h));
	h.chunk_count = 3;
	h.plaintext_length = 64 * 3;
	eml_blob_header_write(&h, s.file.data);
	memcpy(shorter.key, s.key, sizeof(s.key));
	dst = eml_alloc(shorter.plen);
	assert_non_null(dst);
	assert_eml(open_bytes(&shorter, s.file.data, shorter.file.len, dst), EML_ERR_BLOB_AUTH);
	eml_free(dst);
	sealed_free(&s);
	sealed_free(&shorter);
}

/* Serves the real header, then fails like a host that went away. */
static eml_err
failing_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	const struct sealed *s = ctx;

	if (off != 0 || n != EML_BLOB_HEADER_LEN)
		return EML_ERR_IO;
	memcpy(dst, s->file.data, n);
	return EML_OK;
}

static void
source_error_propagates(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	uint8_t dst[200];

	(void)state;
	seal(&s, 200, 64, &rng);
	e = expect_of(&s);
	memset(&src, 0, sizeof(src));
	src.read = failing_read;
	src.ctx = &s;
	src.size = e.file_size;
	memset(dst, 0xa5, sizeof(dst));
	assert_eml(eml_blob_open(&src, &e, dst, sizeof(dst)), EML_ERR_IO);
	assert_true(sodium_is_zero(dst, sizeof(dst)));
	sealed_free(&s);
}

/* fails from the byte at *ctx on (a host that stops answering mid-way) */
struct cut_source {
	const struct sealed *s;
	uint64_t cut;
};

static eml_err
cut_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	const struct cut_source *c = ctx;

	if (off + n > c->cut)
		return EML_ERR_IO;
	memcpy(dst, c->s->file.data + off, n);
	return EML_OK;
}

/* A blob large enough that its content id is hashed on a second thread
 * (many small chunks, two buffers in turn): the same plaintext, and every
 * failure as inline: a wrong content id, a chunk altered late, a source
 * that fails mid-way. Nothing left behind (ASan), the destination wiped. */
static void
large_blob_hashed_alongside(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct cut_source cs;
	uint8_t bad_id[EML_BLOB_ID_LEN], *dst, *bad;

	(void)state;
	seal(&s, ((size_t)600 << 10) + 33, 4096, &rng);
	e = expect_of(&s);
	alloc_dst_bad(&s, &dst, &bad);
	eml_blob_source_mem(&src, &mem, s.file.data, s.file.len);
	assert_eml_ok(eml_blob_open(&src, &e, dst, s.plen));
	assert_memory_equal(dst, s.plain, s.plen);
	/* the content id is what the thread hashed */
	alter_id(bad_id, &s, 31, 0x01);
	e.content_id = bad_id;
	open_fails_wiped(&src, &e, dst, s.plen, EML_ERR_BLOB_MISMATCH);
	e.content_id = s.id;
	/* a chunk near the end altered */
	alter_file(bad, &s, s.file.len - 100);
	eml_blob_source_mem(&src, &mem, bad, s.file.len);
	open_fails_wiped(&src, &e, dst, s.plen, EML_ERR_BLOB_AUTH);
	/* the source fails half way */
	cs.s = &s;
	cs.cut = s.file.len / 2;
	src.read = cut_read;
	src.ctx = &cs;
	src.size = s.file.len;
	open_fails_wiped(&src, &e, dst, s.plen, EML_ERR_IO);
	eml_free(dst);
	eml_free(bad);
	sealed_free(&s);
}

struct counted {
	int calls;
	size_t n, max;  /* of the first allocation */
	size_t live;    /* bytes allocated and not freed */
	size_t peak;    /* highest live */
	bool in_place;  /* grow in place (like an arena block at its top) */
	size_t grown;   /* bytes of the in-place block */
	size_t commits; /* how many times memory grew */
};

static void *
counted_alloc(void *ctx, size_t n, size_t max)
{
	struct counted *c = ctx;
	/* The in-place mode reserves max but counts only n as committed. */
	void *p = eml_secure_alloc(c->in_place ? max : n);

	if (c->calls++ == 0) {
		c->n = n;
		c->max = max;
	}
	c->live += n;
	c->grown = n;
	c->commits++;
	if (c->live > c->peak)
		c->peak = c->live;
	return p;
}

static bool
counted_grow(void *ctx, void *p, size_t n)
{
	struct counted *c = ctx;

	(void)p;
	if (!c->in_place)
		return false;
	c->live += n - c->grown;
	c->grown = n;
	c->commits++;
	if (c->live > c->peak)
		c->peak = c->live;
	return true;
}

static void
counted_free(void *ctx, void *p, size_t n)
{
	struct counted *c = ctx;

	c->live -= c->in_place ? c->grown : n;
	eml_secure_free(p);
}

/* The content id check deferred (eml_blob_open_alloc_deferred): the
 * open returns once every chunk authenticated, the verdict comes from
 * eml_blob_pending_finish; a wrong id opens (the chunks are genuine) but
 * finishes EML_ERR_BLOB_MISMATCH; an altered chunk fails the open itself
 * with nothing pending; a pending check given up leaves nothing behind
 * (ASan). Large (the hash on its thread, more chunks than the ring),
 * large in one chunk (on the thread too) and small (inline hash). */
static void
deferred_id_check(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct counted c;
	struct eml_blob_pending *pend = NULL;
	uint8_t bad_id[EML_BLOB_ID_LEN], *dst = NULL, *bad;
	/* many chunks on the thread, one large chunk on the thread, inline */
	const size_t sizes[3] = { ((size_t)600 << 10) + 33, ((size_t)600 << 10) + 33, 3000 };
	const uint32_t chunks[3] = { 4096, 1u << 20, 4096 };

	(void)state;
	for (int k = 0; k < 3; k++) {
		seal(&s, sizes[k], chunks[k], &rng);
		e = expect_of(&s);
		eml_blob_source_mem(&src, &mem, s.file.data, s.file.len);
		memset(&c, 0, sizeof(c));
		assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &dst, &pend));
		assert_non_null(pend);
		assert_memory_equal(dst, s.plain, s.plen);
		assert_eml_ok(eml_blob_pending_finish(pend));
		counted_free(&c, dst, s.plen);
		/* a wrong id: authenticated plaintext, then the mismatch */
		alter_id(bad_id, &s, 7, 0x40);
		e.content_id = bad_id;
		memset(&c, 0, sizeof(c));
		assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &dst, &pend));
		memset(bad_id, 0, sizeof(bad_id)); /* the expectation was copied */
		assert_eml(eml_blob_pending_finish(pend), EML_ERR_BLOB_MISMATCH);
		counted_free(&c, dst, s.plen);
		/* given up without a verdict */
		alter_id(bad_id, &s, 7, 0x40);
		assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &dst, &pend));
		eml_blob_pending_free(pend);
		counted_free(&c, dst, s.plen);
		assert_int_equal(c.live, 0);
		e.content_id = s.id;
		/* an altered chunk: the open fails, nothing pending */
		bad = eml_alloc(s.file.len);
		assert_non_null(bad);
		alter_file(bad, &s, s.file.len - 100);
		eml_blob_source_mem(&src, &mem, bad, s.file.len);
		assert_eml(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &dst, &pend), EML_ERR_BLOB_AUTH);
		assert_null(pend);
		assert_null(dst);
		assert_int_equal(c.live, 0);
		assert_eml_ok(eml_blob_pending_finish(NULL));
		eml_free(bad);
		sealed_free(&s);
	}
}

/* Locked memory for the plaintext grows with the authenticated chunks
 * plus the one being opened (in place, no copy): a forged first chunk
 * costs one chunk, released; a blob altered or cut at chunk k has
 * committed at most the k chunks before it and k itself; a good blob
 * ends in one buffer of exactly the plaintext. Both kinds of growth: in place
 * (the agent's arena) and by reallocation (doubling). */
static void
alloc_after_authentication(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct counted c;
	uint8_t *dst = NULL;
	uint8_t *bad;
	const size_t cs = 4096, nchunks = 10;

	(void)state;
	seal(&s, (nchunks - 1) * cs + 100, (uint32_t)cs, &rng);
	e = expect_of(&s);
	bad = eml_alloc(s.file.len);
	assert_non_null(bad);
	for (int in_place = 0; in_place <= 1; in_place++) {
		/* good: the plaintext; the first buffer holds one chunk and
		 * may grow to the whole */
		memset(&c, 0, sizeof(c));
		c.in_place = in_place != 0;
		eml_blob_source_mem(&src, &mem, s.file.data, s.file.len);
		assert_eml_ok(eml_blob_open_alloc(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &dst));
		assert_int_equal(c.n, cs);
		assert_int_equal(c.max, s.plen);
		assert_int_equal(c.live, s.plen);
		/* in place: one commit per chunk, never more than the bytes;
		 * doubling: log2 steps, a peak below three times the bytes */
		if (in_place) {
			assert_int_equal(c.commits, nchunks);
			assert_int_equal(c.peak, s.plen);
		} else {
			assert_true(c.commits <= 5);
			assert_true(c.peak <= 3 * s.plen);
		}
		assert_memory_equal(dst, s.plain, s.plen);
		counted_free(&c, dst, s.plen);
		/* first chunk altered: one chunk at most, wiped and released */
		alter_file(bad, &s, EML_BLOB_HEADER_LEN + 5);
		memset(&c, 0, sizeof(c));
		c.in_place = in_place != 0;
		eml_blob_source_mem(&src, &mem, bad, s.file.len);
		assert_eml(eml_blob_open_alloc(&src, &e, counted_alloc, counted_grow, counted_free,
		    &c, &dst), EML_ERR_BLOB_AUTH);
		assert_true(c.calls <= 1);
		assert_true(c.peak <= cs);
		assert_int_equal(c.live, 0);
		assert_null(dst);
		/* chunk 3 altered: at most the three chunks before it and
		 * chunk 3 were ever committed (six chunks when reallocating:
		 * the doubling from two to four), all released (ASan sees a
		 * leak otherwise) */
		alter_file(bad, &s, EML_BLOB_HEADER_LEN + 3 * (cs + EML_BLOB_TAG_LEN) + 7);
		memset(&c, 0, sizeof(c));
		c.in_place = in_place != 0;
		eml_blob_source_mem(&src, &mem, bad, s.file.len);
		assert_eml(eml_blob_open_alloc(&src, &e, counted_alloc, counted_grow, counted_free,
		    &c, &dst), EML_ERR_BLOB_AUTH);
		assert_true(c.peak <= (in_place ? 4 * cs : 6 * cs));
		assert_int_equal(c.live, 0);
		assert_null(dst);
	}
	eml_free(bad);
	sealed_free(&s);
}

/* The agent's path: an arena block at the top of its segment grows in
 * place; the arena commits about what was authenticated, not the claim
 * (the claim reserves address space only). */
static void
arena_grows_in_place(void **state)
{
	struct eml_arena *a = NULL;
	struct eml_arena_stats st;
	uint8_t *p, *q;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	p = eml_secure_alloc_growable(4096, (size_t)1 << 30);
	assert_non_null(p);
	eml_arena_stats(a, &st);
	assert_true(st.committed < ((size_t)8 << 20));
	memset(p, 0x5a, 4096);
	assert_true(eml_secure_grow(p, (size_t)3 << 20));
	assert_int_equal(p[4095], 0x5a);
	assert_int_equal(p[4096], 0);
	assert_int_equal(p[((size_t)3 << 20) - 1], 0);
	eml_arena_stats(a, &st);
	assert_true(st.committed >= ((size_t)3 << 20) && st.committed < ((size_t)8 << 20));
	/* a block above it: no more growth in place */
	q = eml_secure_alloc(64);
	assert_non_null(q);
	assert_false(eml_secure_grow(p, (size_t)4 << 20));
	eml_secure_free(q);
	/* back on top: grows again */
	assert_true(eml_secure_grow(p, (size_t)4 << 20));
	eml_secure_free(p);
	/* a claim past the arena's limit is refused at once */
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
	assert_eml_ok(eml_arena_new((size_t)16 << 20, &a));
	(void)eml_arena_use(a);
	assert_null(eml_secure_alloc_growable(4096, (size_t)1 << 30));
	p = eml_secure_alloc_growable(4096, (size_t)8 << 20);
	assert_non_null(p);
	assert_false(eml_secure_grow(p, (size_t)32 << 20));
	eml_secure_free(p);
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
	/* no arena: an ordinary secure block that cannot grow in place */
	p = eml_secure_alloc_growable(100, 1000);
	assert_non_null(p);
	assert_false(eml_secure_grow(p, 200));
	eml_secure_free(p);
}

/* A source that lends chunks in place (borrow), every other one, and
 * counts: what it lent and has not had back, what it lent, what was read. */
struct lender {
	const uint8_t *p;
	size_t n;
	int held, lent, reads, calls;
};

static eml_err
lender_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct lender *l = ctx;

	l->reads++;
	if (off > l->n || n > l->n - off)
		return EML_ERR_IO;
	memcpy(dst, l->p + off, n);
	return EML_OK;
}

static eml_err
lender_borrow(void *ctx, uint64_t off, size_t n, const uint8_t **p, void **hold)
{
	struct lender *l = ctx;

	*p = NULL;
	*hold = NULL;
	if (l->calls++ % 2 == 1 || off > l->n || n > l->n - off)
		return EML_OK; /* not this one: the reader reads it */
	*p = l->p + off;
	*hold = l;
	l->held++;
	l->lent++;
	return EML_OK;
}

static void
lender_release(void *hold)
{
	((struct lender *)hold)->held--;
}

static void
lender_source(struct eml_blob_source *src, struct lender *l, const uint8_t *p, size_t n)
{
	memset(l, 0, sizeof(*l));
	l->p = p;
	l->n = n;
	src->read = lender_read;
	src->ctx = l;
	src->size = n;
	src->borrow = lender_borrow;
	src->release = lender_release;
}

/* Chunks a source lends are decrypted and hashed where they lie (no
 * copy), mixed with chunks it does not lend (read): the same plaintext
 * and verdicts, and every lent range given back whatever the outcome:
 * opened, deferred and finished, deferred and given up, wrong content id,
 * altered chunk. Large (hash thread, ring slots reused) and small. */
static void
lent_chunks_given_back(void **state)
{
	uint64_t rng = eml_test_seed();
	const size_t sizes[2] = { ((size_t)600 << 10) + 33, 3000 };
	struct sealed s;
	struct lender l;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct eml_blob_pending *pend = NULL;
	struct counted c;
	uint8_t bad_id[EML_BLOB_ID_LEN], *dst, *bad, *out = NULL;

	(void)state;
	for (int k = 0; k < 2; k++) {
		seal(&s, sizes[k], 4096, &rng);
		e = expect_of(&s);
		alloc_dst_bad(&s, &dst, &bad);
		lender_source(&src, &l, s.file.data, s.file.len);
		assert_eml_ok(eml_blob_open(&src, &e, dst, s.plen));
		assert_memory_equal(dst, s.plain, s.plen);
		assert_true(l.lent > 0 && (k == 1 || l.reads > 1)); /* k == 1: one chunk */
		assert_int_equal(l.held, 0);
		/* deferred: held until the verdict, then given back */
		lender_source(&src, &l, s.file.data, s.file.len);
		memset(&c, 0, sizeof(c));
		assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &out, &pend));
		assert_memory_equal(out, s.plain, s.plen);
		assert_eml_ok(eml_blob_pending_finish(pend));
		assert_int_equal(l.held, 0);
		counted_free(&c, out, s.plen);
		/* deferred and given up */
		lender_source(&src, &l, s.file.data, s.file.len);
		assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &out, &pend));
		eml_blob_pending_free(pend);
		assert_int_equal(l.held, 0);
		counted_free(&c, out, s.plen);
		assert_int_equal(c.live, 0);
		/* a wrong content id */
		alter_id(bad_id, &s, 3, 0x10);
		e.content_id = bad_id;
		lender_source(&src, &l, s.file.data, s.file.len);
		open_fails_wiped(&src, &e, dst, s.plen, EML_ERR_BLOB_MISMATCH);
		assert_int_equal(l.held, 0);
		e.content_id = s.id;
		/* an altered chunk, lent or read */
		alter_file(bad, &s, s.file.len - 100);
		lender_source(&src, &l, bad, s.file.len);
		open_fails_wiped(&src, &e, dst, s.plen, EML_ERR_BLOB_AUTH);
		assert_int_equal(l.held, 0);
		eml_free(dst);
		eml_free(bad);
		sealed_free(&s);
	}
}

/* One kept hash thread (eml_blob_worker) for many opens: the same
 * verdicts as a thread per blob (good, wrong id, deferred good and wrong),
 * and a second open while the first's check is still pending (the worker
 * busy) gets a thread of its own; both finish right. Freed at the end
 * (ASan, and the thread joined). */
static void
kept_worker_hashes_many(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct eml_blob_worker *w = NULL;
	struct eml_blob_pending *p1 = NULL, *p2 = NULL;
	struct counted c;
	uint8_t bad_id[EML_BLOB_ID_LEN], *dst, *o1 = NULL, *o2 = NULL;

	(void)state;
	assert_eml_ok(eml_blob_worker_new(&w));
	seal(&s, ((size_t)600 << 10) + 33, 1u << 20, &rng); /* one chunk, threaded */
	e = expect_of(&s);
	e.worker = w;
	dst = eml_alloc(s.plen);
	assert_non_null(dst);
	eml_blob_source_mem(&src, &mem, s.file.data, s.file.len);
	alter_id(bad_id, &s, 0, 0x80);
	for (int r = 0; r < 3; r++) {
		e.content_id = s.id;
		assert_eml_ok(eml_blob_open(&src, &e, dst, s.plen));
		assert_memory_equal(dst, s.plain, s.plen);
		e.content_id = bad_id;
		open_fails_wiped(&src, &e, dst, s.plen, EML_ERR_BLOB_MISMATCH);
	}
	/* two pending at once: the second finds the worker busy */
	memset(&c, 0, sizeof(c));
	e.content_id = s.id;
	assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
	    counted_free, &c, &o1, &p1));
	e.content_id = bad_id;
	assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
	    counted_free, &c, &o2, &p2));
	assert_eml(eml_blob_pending_finish(p2), EML_ERR_BLOB_MISMATCH);
	assert_eml_ok(eml_blob_pending_finish(p1));
	assert_memory_equal(o1, s.plain, s.plen);
	counted_free(&c, o1, s.plen);
	counted_free(&c, o2, s.plen);
	/* and the worker still serves */
	e.content_id = s.id;
	assert_eml_ok(eml_blob_open(&src, &e, dst, s.plen));
	assert_memory_equal(dst, s.plain, s.plen);
	eml_blob_worker_free(w);
	eml_blob_worker_free(NULL);
	eml_free(dst);
	sealed_free(&s);
}

/* A job of the caller's on the kept worker (eml_blob_worker_post, the
 * agent's exchange hash): it runs on the worker's thread, a second post
 * while it runs is refused, a blob open wanting the worker meanwhile
 * waits for it to end (no thread of its own: the job is over when the
 * open returns) and opens right; join and free wait for a job too. */
static struct {
	atomic_int runs, done;
	pthread_t thread;
} pj;

static void
posted_job(void *arg)
{
	(void)arg;
	pj.thread = pthread_self();
	atomic_fetch_add(&pj.runs, 1);
	usleep(20000);
	atomic_fetch_add(&pj.done, 1);
}

static void
worker_runs_a_posted_job(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct eml_blob_worker *w = NULL;
	uint8_t *dst;

	(void)state;
	assert_false(eml_blob_worker_post(NULL, posted_job, NULL));
	eml_blob_worker_join(NULL);
	assert_eml_ok(eml_blob_worker_new(&w));
	seal(&s, ((size_t)600 << 10) + 33, 64u << 10, &rng); /* threaded */
	e = expect_of(&s);
	e.worker = w;
	dst = eml_alloc(s.plen);
	assert_non_null(dst);
	eml_blob_source_mem(&src, &mem, s.file.data, s.file.len);
	assert_true(eml_blob_worker_post(w, posted_job, NULL));
	assert_false(eml_blob_worker_post(w, posted_job, NULL)); /* busy */
	assert_eml_ok(eml_blob_open(&src, &e, dst, s.plen));
	assert_int_equal(atomic_load(&pj.done), 1);
	assert_memory_equal(dst, s.plain, s.plen);
	assert_false(pthread_equal(pj.thread, pthread_self()));
	/* idle again: a post, joined */
	assert_true(eml_blob_worker_post(w, posted_job, NULL));
	eml_blob_worker_join(w);
	assert_int_equal(atomic_load(&pj.done), 2);
	eml_blob_worker_join(w); /* nothing posted: at once */
	/* free waits for a posted job */
	assert_true(eml_blob_worker_post(w, posted_job, NULL));
	eml_blob_worker_free(w);
	assert_int_equal(atomic_load(&pj.done), 3);
	assert_int_equal(atomic_load(&pj.runs), 3);
	eml_free(dst);
	sealed_free(&s);
}

/* A deferred check's hash ends on the worker after the blob's last chunk
 * without waiting for the caller: the worker is free again (a post is
 * taken) while the check is still pending, and the verdicts are right. */
static void
worker_done_at_the_last_chunk(void **state)
{
	uint64_t rng = eml_test_seed();
	struct sealed s;
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	struct eml_blob_worker *w = NULL;
	struct eml_blob_pending *p = NULL;
	struct counted c;
	uint8_t bad_id[EML_BLOB_ID_LEN], *o = NULL;
	const uint32_t chunks[] = { 1u << 20, 64u << 10 }; /* one chunk, ten */

	(void)state;
	assert_eml_ok(eml_blob_worker_new(&w));
	for (size_t k = 0; k < 2 * sizeof(chunks) / sizeof(chunks[0]); k++) {
		bool taken = false;

		seal(&s, ((size_t)600 << 10) + 33, chunks[k / 2], &rng);
		e = expect_of(&s);
		e.worker = w;
		alter_id(bad_id, &s, 0, 0x80);
		e.content_id = k % 2 == 0 ? s.id : bad_id;
		eml_blob_source_mem(&src, &mem, s.file.data, s.file.len);
		memset(&c, 0, sizeof(c));
		assert_eml_ok(eml_blob_open_alloc_deferred(&src, &e, counted_alloc, counted_grow,
		    counted_free, &c, &o, &p));
		for (int i = 0; i < 500 && !taken; i++) {
			taken = eml_blob_worker_post(w, posted_job, NULL);
			if (!taken)
				usleep(10000);
		}
		assert_true(taken);
		eml_blob_worker_join(w);
		assert_eml(eml_blob_pending_finish(p), k % 2 == 0 ? EML_OK : EML_ERR_BLOB_MISMATCH);
		assert_memory_equal(o, s.plain, s.plen);
		counted_free(&c, o, s.plen);
		sealed_free(&s);
	}
	eml_blob_worker_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_known_answer),
		cmocka_unit_test(header_rejects),
		cmocka_unit_test(seal_open_round_trip),
		cmocka_unit_test(writer_refuses_misuse),
		cmocka_unit_test(chunks_are_libsodium_xchacha),
		cmocka_unit_test(ciphertext_hides_plaintext),
		cmocka_unit_test(open_fails_closed),
		cmocka_unit_test(rewritten_length_fails),
		cmocka_unit_test(source_error_propagates),
		cmocka_unit_test(alloc_after_authentication),
		cmocka_unit_test(arena_grows_in_place),
		cmocka_unit_test(large_blob_hashed_alongside),
		cmocka_unit_test(deferred_id_check),
		cmocka_unit_test(lent_chunks_given_back),
		cmocka_unit_test(kept_worker_hashes_many),
		cmocka_unit_test(worker_runs_a_posted_job),
		cmocka_unit_test(worker_done_at_the_last_chunk),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * EIF writer, PCR prediction and image signing (eml_eif.h, docs/EIF.md).
 *
 * The writer lays sections out as nitro-cli's builder does (kernel,
 * cmdline, metadata, ramdisks, signature), with no padding, and streams
 * every input through the CRC. Its output depends only on its inputs:
 * no time, no host name, no random byte, so the same inputs give the
 * same file.
 */
#include "eml_eif.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "eml_mem.h"

#define CHUNK 65536u

struct part {
	uint16_t type;
	const struct eml_eif_blob *blob;
	uint64_t size;
};

static eml_err
blob_size(const struct eml_eif_blob *b, uint64_t *size)
{
	struct stat st;

	if (b->path == NULL) {
		*size = b->n;
		return EML_OK;
	}
	if (stat(b->path, &st) != 0 || !S_ISREG(st.st_mode)) {
		eml_err_set_detail("%s: %s", b->path,
		    errno != 0 ? strerror(errno) : "not a regular file");
		EML_BAIL(EML_ERR_FILE);
	}
	*size = (uint64_t)st.st_size;
	return EML_OK;
}

static bool
blob_set(const struct eml_eif_blob *b)
{
	return b->path != NULL || b->n != 0;
}

/* Call fn on each chunk of the blob. Exactly want bytes, else an error
 * (a file that changed size between stat and read). */
static eml_err
blob_stream(const struct eml_eif_blob *b, uint64_t want, uint8_t *chunk,
    eml_err (*fn)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	int fd;
	uint64_t got = 0;
	eml_err rc = EML_OK;

	if (b->path == NULL) {
		EML_ENSURE(b->n == want, EML_ERR_FILE);
		return b->n == 0 ? EML_OK : fn(arg, b->p, b->n);
	}
	fd = open(b->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("%s: %s", b->path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	for (;;) {
		ssize_t r = read(fd, chunk, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			eml_err_set_detail("%s: %s", b->path, strerror(errno));
			rc = eml_err_record(EML_ERR_FILE, __FILE__, __LINE__, __func__);
			break;
		}
		if (r == 0)
			break;
		got += (uint64_t)r;
		if (got > want || (rc = fn(arg, chunk, (size_t)r)) != EML_OK)
			break;
	}
	(void)close(fd);
	if (rc == EML_OK && got != want) {
		eml_err_set_detail("%s changed size while being read", b->path);
		EML_BAIL(EML_ERR_FILE);
	}
	return rc;
}

static eml_err
collect(const struct eml_eif_spec *spec, struct part parts[EML_EIF_MAX_SECTIONS], unsigned *count)
{
	static const uint64_t max[6] = { 0, EML_EIF_KERNEL_MAX, EML_EIF_CMDLINE_MAX,
		EML_EIF_RAMDISK_MAX, EML_EIF_SIGNATURE_MAX, EML_EIF_METADATA_MAX };
	unsigned n = 0;

	EML_ENSURE_REF(spec);
	if (!blob_set(&spec->kernel) || spec->ramdisk_count == 0) {
		eml_err_set_detail("an image needs a kernel and at least one ramdisk");
		EML_BAIL(EML_ERR_USAGE);
	}
	if (spec->ramdisk_count + 4 > EML_EIF_MAX_SECTIONS) {
		eml_err_set_detail("%zu ramdisks; at most %d", spec->ramdisk_count,
		    EML_EIF_MAX_SECTIONS - 4);
		EML_BAIL(EML_ERR_EIF_SECTION_COUNT);
	}
	parts[n++] = (struct part){ EML_EIF_SEC_KERNEL, &spec->kernel, 0 };
	parts[n++] = (struct part){ EML_EIF_SEC_CMDLINE, &spec->cmdline, 0 };
	if (blob_set(&spec->metadata))
		parts[n++] = (struct part){ EML_EIF_SEC_METADATA, &spec->metadata, 0 };
	for (size_t i = 0; i < spec->ramdisk_count; i++)
		parts[n++] = (struct part){ EML_EIF_SEC_RAMDISK, &spec->ramdisks[i], 0 };
	if (blob_set(&spec->signature))
		parts[n++] = (struct part){ EML_EIF_SEC_SIGNATURE, &spec->signature, 0 };
	for (unsigned i = 0; i < n; i++) {
		EML_GUARD(blob_size(parts[i].blob, &parts[i].size));
		if (parts[i].size > max[parts[i].type]) {
			eml_err_set_detail("section %u: %llu bytes, limit %llu", i,
			    (unsigned long long)parts[i].size,
			    (unsigned long long)max[parts[i].type]);
			EML_BAIL(EML_ERR_EIF_TOO_LARGE);
		}
	}
	*count = n;
	return EML_OK;
}

/* ------------------------------------------------------------- predict */

static eml_err
pcr_feed(void *arg, const uint8_t *p, size_t n)
{
	return eml_eif_pcr_update(arg, p, n);
}

eml_err
eml_eif_predict(const struct eml_eif_spec *spec, uint8_t pcr[3][EML_EIF_PCR_LEN])
{
	struct part parts[EML_EIF_MAX_SECTIONS];
	struct eml_eif_pcr_state st;
	unsigned n = 0;
	uint8_t *chunk;
	eml_err rc = EML_OK;

	EML_GUARD(collect(spec, parts, &n));
	EML_GUARD(eml_eif_pcr_init(&st));
	chunk = eml_alloc(CHUNK);
	if (chunk == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (unsigned i = 0; i < n; i++) {
		uint16_t t = parts[i].type;

		if (t != EML_EIF_SEC_KERNEL && t != EML_EIF_SEC_CMDLINE && t != EML_EIF_SEC_RAMDISK)
			continue;
		if ((rc = eml_eif_pcr_section(&st, t)) != EML_OK ||
		    (rc = blob_stream(parts[i].blob, parts[i].size, chunk, pcr_feed, &st)) != EML_OK)
			goto out;
	}
	rc = eml_eif_pcr_final(&st, pcr);
out:
	eml_free(chunk);
	eml_eif_pcr_free(&st);
	return rc;
}

/* --------------------------------------------------------------- write */

struct sink {
	int fd;
	uint32_t crc;
	const char *path;
};

static eml_err
sink_write(void *arg, const uint8_t *p, size_t n)
{
	struct sink *s = arg;

	s->crc = eml_eif_crc32(s->crc, p, n);
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			eml_err_set_detail("%s: %s", s->path, w < 0 ? strerror(errno) : "short write");
			EML_BAIL(EML_ERR_FILE);
		}
		p += w;
		n -= (size_t)w;
	}
	return EML_OK;
}

static void
make_header(const struct eml_eif_spec *spec, const struct part *parts, unsigned n,
    uint8_t hdr[EML_EIF_HEADER_LEN])
{
	uint64_t at = EML_EIF_HEADER_LEN;

	memset(hdr, 0, EML_EIF_HEADER_LEN);
	EML_MEMCPY(hdr, ".eif", 4);
	hdr[4] = 0;
	hdr[5] = EML_EIF_VERSION;
	hdr[6] = (uint8_t)(spec->flags >> 8);
	hdr[7] = (uint8_t)spec->flags;
	eml_store_u64be(hdr + 0x08, spec->default_mem);
	eml_store_u64be(hdr + 0x10, spec->default_cpus);
	hdr[0x1a] = 0;
	hdr[0x1b] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		eml_store_u64be(hdr + 0x1c + 8 * i, at);
		eml_store_u64be(hdr + 0x11c + 8 * i, parts[i].size);
		at += EML_EIF_SECTION_HEADER_LEN + parts[i].size;
	}
}

static eml_err
write_all(const struct eml_eif_spec *spec, const struct part *parts, unsigned n, struct sink *s)
{
	uint8_t hdr[EML_EIF_HEADER_LEN];
	uint8_t *chunk = NULL;
	eml_err rc = EML_OK;

	make_header(spec, parts, n, hdr);
	/* The CRC covers the header less its CRC field, then every section
	 * header and its data: start it here and patch the field at the end. */
	EML_GUARD(sink_write(s, hdr, EML_EIF_HEADER_LEN));
	s->crc = eml_eif_crc32(0, hdr, EML_EIF_HEADER_LEN - 4);
	chunk = eml_alloc(CHUNK);
	if (chunk == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (unsigned i = 0; i < n; i++) {
		uint8_t sh[EML_EIF_SECTION_HEADER_LEN] = { 0 };

		sh[0] = (uint8_t)(parts[i].type >> 8);
		sh[1] = (uint8_t)parts[i].type;
		eml_store_u64be(sh + 4, parts[i].size);
		if ((rc = sink_write(s, sh, sizeof(sh))) != EML_OK ||
		    (rc = blob_stream(parts[i].blob, parts[i].size, chunk, sink_write, s)) != EML_OK)
			goto out;
	}
	eml_store_u32be(hdr + EML_EIF_HEADER_LEN - 4, s->crc);
	if (pwrite(s->fd, hdr + EML_EIF_HEADER_LEN - 4, 4, EML_EIF_HEADER_LEN - 4) != 4) {
		eml_err_set_detail("%s: %s", s->path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
out:
	eml_free(chunk);
	return rc;
}

eml_err
eml_eif_write(const struct eml_eif_spec *spec, const char *path)
{
	struct part parts[EML_EIF_MAX_SECTIONS];
	unsigned n = 0;
	char tmp[4096];
	struct sink s;
	eml_err rc;

	EML_ENSURE_REF(path);
	EML_GUARD(collect(spec, parts, &n));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		eml_err_set_detail("output path too long");
		EML_BAIL(EML_ERR_FILE);
	}
	s.fd = mkstemp(tmp);
	s.crc = 0;
	s.path = path;
	if (s.fd < 0) {
		eml_err_set_detail("%s: %s", tmp, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	rc = write_all(spec, parts, n, &s);
	if (rc == EML_OK && (fchmod(s.fd, 0644) != 0 || fsync(s.fd) != 0)) {
		eml_err_set_detail("%s: %s", tmp, strerror(errno));
		rc = EML_ERR_FILE;
	}
	if (close(s.fd) != 0 && rc == EML_OK)
		rc = EML_ERR_FILE;
	if (rc == EML_OK && rename(tmp, path) != 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		rc = EML_ERR_FILE;
	}
	if (rc != EML_OK) {
		(void)unlink(tmp);
		EML_BAIL(rc);
	}
	return EML_OK;
}

/* ------------------------------------------------------------- signing */

static eml_err
cbor_head(struct eml_buf *b, uint8_t major, uint64_t v)
{
	uint8_t m = (uint8_t)(major << 5);

	if (v < 24)
		return eml_buf_append_u8(b, (uint8_t)(m | v));
	if (v <= 0xff) {
		EML_GUARD(eml_buf_append_u8(b, m | 24));
		return eml_buf_append_u8(b, (uint8_t)v);
	}
	if (v <= 0xffff) {
		EML_GUARD(eml_buf_append_u8(b, m | 25));
		EML_GUARD(eml_buf_append_u8(b, (uint8_t)(v >> 8)));
		return eml_buf_append_u8(b, (uint8_t)v);
	}
	if (v <= 0xffffffffu) {
		EML_GUARD(eml_buf_append_u8(b, m | 26));
		return eml_buf_append_u32be(b, (uint32_t)v);
	}
	EML_GUARD(eml_buf_append_u8(b, m | 27));
	return eml_buf_append_u64be(b, v);
}

static eml_err
cbor_text(struct eml_buf *b, const char *s)
{
	EML_GUARD(cbor_head(b, 3, strlen(s)));
	return eml_buf_append(b, s, strlen(s));
}

/* Bytes as an array of unsigned integers, the serde encoding of Vec<u8>. */
static eml_err
cbor_uint_array(struct eml_buf *b, const uint8_t *p, size_t n)
{
	EML_GUARD(cbor_head(b, 4, n));
	for (size_t i = 0; i < n; i++)
		EML_GUARD(cbor_head(b, 0, p[i]));
	return EML_OK;
}

eml_err
eml_eif_sig_encode(const uint8_t *cert_pem, size_t cert_len, const uint8_t *cose, size_t cose_len,
    struct eml_buf *out)
{
	EML_ENSURE_REF(out);
	EML_ENSURE(cert_len != 0 && cose_len != 0, EML_ERR_USAGE);
	EML_GUARD(cbor_head(out, 4, 1));
	EML_GUARD(cbor_head(out, 5, 2));
	EML_GUARD(cbor_text(out, "signing_certificate"));
	EML_GUARD(cbor_uint_array(out, cert_pem, cert_len));
	EML_GUARD(cbor_text(out, "signature"));
	return cbor_uint_array(out, cose, cose_len);
}

eml_err
eml_eif_pcr_payload(unsigned index, const uint8_t pcr[EML_EIF_PCR_LEN], struct eml_buf *out)
{
	EML_ENSURE_REF(out);
	EML_GUARD(cbor_head(out, 5, 2));
	EML_GUARD(cbor_text(out, "register_index"));
	EML_GUARD(cbor_head(out, 0, index));
	EML_GUARD(cbor_text(out, "register_value"));
	return cbor_uint_array(out, pcr, EML_EIF_PCR_LEN);
}

/* ECDSA DER signature -> r || s, 48 bytes each (RFC 9053 §2.1). */
static eml_err
der_to_raw(const uint8_t *der, size_t n, uint8_t raw[96])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	const BIGNUM *r, *s;
	eml_err rc = EML_OK;

	if (sig == NULL)
		EML_BAIL(EML_ERR_CRYPTO);
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 48) != 48 || BN_bn2binpad(s, raw + 48, 48) != 48)
		rc = EML_ERR_CRYPTO;
	ECDSA_SIG_free(sig);
	if (rc != EML_OK)
		EML_BAIL(rc);
	return EML_OK;
}

eml_err
eml_eif_cose_sign(const uint8_t *key_pem, size_t key_len, const uint8_t *payload,
    size_t payload_len, struct eml_buf *out)
{
	/* Protected header {1: -35} (alg ES384). */
	static const uint8_t prot[] = { 0xa1, 0x01, 0x38, 0x22 };
	struct eml_buf tbs;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	uint8_t der[160], raw[96];
	size_t der_len = sizeof(der);
	eml_err rc = EML_OK;

	EML_ENSURE_REF(out);
	eml_buf_init(&tbs, payload_len + 64);
	bio = BIO_new_mem_buf(key_pem, (int)key_len);
	key = bio == NULL ? NULL : PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || EVP_PKEY_get_bits(key) != 384) {
		eml_err_set_detail("signing key must be a P-384 private key in PEM");
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	}
	/* Sig_structure = ["Signature1", protected, external_aad h'', payload]. */
	if ((rc = cbor_head(&tbs, 4, 4)) != EML_OK || (rc = cbor_text(&tbs, "Signature1")) != EML_OK ||
	    (rc = cbor_head(&tbs, 2, sizeof(prot))) != EML_OK ||
	    (rc = eml_buf_append(&tbs, prot, sizeof(prot))) != EML_OK ||
	    (rc = cbor_head(&tbs, 2, 0)) != EML_OK ||
	    (rc = cbor_head(&tbs, 2, payload_len)) != EML_OK ||
	    (rc = eml_buf_append(&tbs, payload, payload_len)) != EML_OK)
		goto out;
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &der_len, tbs.data, tbs.len) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	if ((rc = der_to_raw(der, der_len, raw)) != EML_OK)
		goto out;
	/* COSE_Sign1 = tag 18 [protected, {}, payload, signature]. */
	if ((rc = cbor_head(out, 6, 18)) != EML_OK || (rc = cbor_head(out, 4, 4)) != EML_OK ||
	    (rc = cbor_head(out, 2, sizeof(prot))) != EML_OK ||
	    (rc = eml_buf_append(out, prot, sizeof(prot))) != EML_OK ||
	    (rc = cbor_head(out, 5, 0)) != EML_OK ||
	    (rc = cbor_head(out, 2, payload_len)) != EML_OK ||
	    (rc = eml_buf_append(out, payload, payload_len)) != EML_OK ||
	    (rc = cbor_head(out, 2, sizeof(raw))) != EML_OK)
		goto out;
	rc = eml_buf_append(out, raw, sizeof(raw));
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	BIO_free(bio);
	eml_buf_free_nowipe(&tbs);
	return rc;
}

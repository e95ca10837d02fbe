/*
 * EIF reader and PCR calculator (eml_eif.h, docs/EIF.md).
 *
 * Every byte of an image is read once, in file order, through bounded
 * reads of a source whose size is known; section data is streamed in
 * chunks into the CRC and the three SHA-384 contexts, so a kernel or a
 * ramdisk of any size costs one chunk of memory. Only the metadata and
 * the signature are kept, under their size ceilings.
 */
#include "eml_eif.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "eml_mem.h"

#define CHUNK 65536u

/* ---------------------------------------------------------------- CRC32 */

static uint32_t crc_table[256];
static bool crc_ready;

static void
crc_init(void)
{
	/* Reflected polynomial 0xEDB88320: the table is a pure function of
	 * the constant, so a race would only write the same values twice. */
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	crc_ready = true;
}

uint32_t
eml_eif_crc32(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ b[i]) & 0xffu] ^ (crc >> 8);
	return ~crc;
}

/* ---------------------------------------------------------------- PCRs */

static eml_err
extend(const uint8_t digest[EML_EIF_PCR_LEN], uint8_t out[EML_EIF_PCR_LEN])
{
	uint8_t buf[2 * EML_EIF_PCR_LEN];

	memset(buf, 0, EML_EIF_PCR_LEN);
	EML_MEMCPY(buf + EML_EIF_PCR_LEN, digest, EML_EIF_PCR_LEN);
	if (EVP_Digest(buf, sizeof(buf), out, NULL, EVP_sha384(), NULL) != 1)
		EML_BAIL(EML_ERR_CRYPTO);
	return EML_OK;
}

eml_err
eml_eif_pcr_of(const void *p, size_t n, uint8_t out[EML_EIF_PCR_LEN])
{
	uint8_t d[EML_EIF_PCR_LEN];

	EML_ENSURE_REF(out);
	if (EVP_Digest(n == 0 ? "" : p, n, d, NULL, EVP_sha384(), NULL) != 1)
		EML_BAIL(EML_ERR_CRYPTO);
	return extend(d, out);
}

eml_err
eml_eif_pcr_init(struct eml_eif_pcr_state *st)
{
	EML_ENSURE_REF(st);
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < 3; i++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		st->h[i] = c;
		if (c == NULL || EVP_DigestInit_ex(c, EVP_sha384(), NULL) != 1) {
			eml_eif_pcr_free(st);
			EML_BAIL(EML_ERR_CRYPTO);
		}
	}
	return EML_OK;
}

void
eml_eif_pcr_free(struct eml_eif_pcr_state *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < 3; i++) {
		EVP_MD_CTX_free(st->h[i]);
		st->h[i] = NULL;
	}
}

/* Kernel and cmdline go to contents 0 and 1 wherever they sit; the first
 * ramdisk to 0 and 1; every later ramdisk to 0 and 2. */
eml_err
eml_eif_pcr_section(struct eml_eif_pcr_state *st, uint16_t type)
{
	EML_ENSURE_REF(st);
	switch (type) {
	case EML_EIF_SEC_KERNEL:
	case EML_EIF_SEC_CMDLINE:
		st->mask = 3u;
		return EML_OK;
	case EML_EIF_SEC_RAMDISK:
		st->ramdisks++;
		st->mask = st->ramdisks == 1 ? 3u : 5u;
		return EML_OK;
	default:
		EML_BAIL(EML_ERR_INTERNAL);
	}
}

eml_err
eml_eif_pcr_update(struct eml_eif_pcr_state *st, const void *p, size_t n)
{
	unsigned m;

	EML_ENSURE_REF(st);
	if (n == 0)
		return EML_OK;
	m = st->mask;
	EML_ENSURE(m != 0, EML_ERR_INTERNAL); /* no section started */
	for (int i = 0; i < 3; i++) {
		if ((m & (1u << i)) && EVP_DigestUpdate(st->h[i], p, n) != 1)
			EML_BAIL(EML_ERR_CRYPTO);
	}
	return EML_OK;
}

eml_err
eml_eif_pcr_final(struct eml_eif_pcr_state *st, uint8_t out[3][EML_EIF_PCR_LEN])
{
	uint8_t d[EML_EIF_PCR_LEN];
	unsigned dl = 0;

	EML_ENSURE_REF(st);
	for (int i = 0; i < 3; i++) {
		if (EVP_DigestFinal_ex(st->h[i], d, &dl) != 1 || dl != EML_EIF_PCR_LEN)
			EML_BAIL(EML_ERR_CRYPTO);
		EML_GUARD(extend(d, out[i]));
	}
	return EML_OK;
}

/* ---------------------------------------------------------------- PCR8 */

static int
b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

static const uint8_t *
find(const uint8_t *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; n >= k && i <= n - k; i++) {
		if (memcmp(p + i, needle, k) == 0)
			return p + i;
	}
	return NULL;
}

/* Base64 body between the markers: whitespace (CR, LF, space, tab) is
 * skipped, '=' only at the end, anything else is refused. */
static eml_err
b64_decode(const uint8_t *p, size_t n, struct eml_buf *out)
{
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		int v;

		if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad != 0)
			EML_BAIL(EML_ERR_EIF_CERT);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			EML_GUARD(eml_buf_append_u8(out, (uint8_t)(acc >> bits)));
		}
	}
	/* Leftover bits must be zero padding of the right count. */
	if (pad > 2 || (bits == 0 && pad != 0) || (bits == 2 && pad != 1) ||
	    (bits == 4 && pad != 2) || (acc & ((1u << bits) - 1u)) != 0)
		EML_BAIL(EML_ERR_EIF_CERT);
	return EML_OK;
}

eml_err
eml_eif_pcr8_from_pem(const uint8_t *pem, size_t n, uint8_t out[EML_EIF_PCR_LEN])
{
	const uint8_t *b, *e, *body;
	struct eml_buf der;
	X509 *x = NULL;
	const unsigned char *dp;
	eml_err rc = EML_OK;

	EML_ENSURE_REF(pem);
	b = find(pem, n, pem_begin);
	if (b == NULL) {
		eml_err_set_detail("no BEGIN CERTIFICATE line");
		EML_BAIL(EML_ERR_EIF_CERT);
	}
	body = b + strlen(pem_begin);
	e = find(body, n - (size_t)(body - pem), pem_end);
	if (e == NULL || find(e, n - (size_t)(e - pem), pem_begin) != NULL) {
		eml_err_set_detail(e == NULL ? "no END CERTIFICATE line" :
					       "more than one certificate");
		EML_BAIL(EML_ERR_EIF_CERT);
	}
	eml_buf_init(&der, EML_EIF_SIGNATURE_MAX);
	if ((rc = b64_decode(body, (size_t)(e - body), &der)) != EML_OK) {
		eml_err_set_detail("certificate base64 malformed");
		EML_FAIL(rc, EML_ERR_EIF_CERT);
	}
	/* The PCR is over these DER bytes; nitro-cli hashes OpenSSL's
	 * re-encoding, which equals them only for a canonical encoding. */
	dp = der.data;
	x = d2i_X509(NULL, &dp, (long)der.len);
	if (x == NULL || dp != der.data + der.len || i2d_X509(x, NULL) != (int)der.len) {
		eml_err_set_detail("certificate DER does not parse, or not in canonical form");
		EML_FAIL(rc, EML_ERR_EIF_CERT);
	}
	rc = eml_eif_pcr_of(der.data, der.len, out);
out:
	X509_free(x);
	eml_buf_free_nowipe(&der);
	return rc;
}

/* ------------------------------------------------------ signature CBOR */

/* One CBOR head: major type and argument (definite lengths only). */
static eml_err
cbor_head(struct eml_cur *c, uint8_t *major, uint64_t *arg)
{
	uint8_t b, ai;

	EML_GUARD(eml_cur_read_u8(c, &b));
	*major = b >> 5;
	ai = b & 0x1fu;
	if (ai < 24) {
		*arg = ai;
	} else if (ai == 24) {
		uint8_t v;
		EML_GUARD(eml_cur_read_u8(c, &v));
		*arg = v;
	} else if (ai == 25) {
		uint16_t v;
		EML_GUARD(eml_cur_read_u16be(c, &v));
		*arg = v;
	} else if (ai == 26) {
		uint32_t v;
		EML_GUARD(eml_cur_read_u32be(c, &v));
		*arg = v;
	} else if (ai == 27) {
		EML_GUARD(eml_cur_read_u64be(c, arg));
	} else {
		EML_BAIL(EML_ERR_EIF_SIGNATURE); /* indefinite or reserved */
	}
	return EML_OK;
}

/* An array of unsigned integers 0..255, one per byte, into out. */
static eml_err
cbor_byte_array(struct eml_cur *c, struct eml_buf *out)
{
	uint8_t mt;
	uint64_t n, v;

	EML_GUARD(cbor_head(c, &mt, &n));
	if (mt != 4 || n > c->left || n > EML_EIF_SIGNATURE_MAX)
		EML_BAIL(EML_ERR_EIF_SIGNATURE);
	for (uint64_t i = 0; i < n; i++) {
		EML_GUARD(cbor_head(c, &mt, &v));
		if (mt != 0 || v > 255)
			EML_BAIL(EML_ERR_EIF_SIGNATURE);
		EML_GUARD(eml_buf_append_u8(out, (uint8_t)v));
	}
	return EML_OK;
}

static eml_err
cbor_text_key(struct eml_cur *c, size_t *which)
{
	static const char *const keys[] = { "signing_certificate", "signature" };
	uint8_t mt;
	uint64_t n;
	const uint8_t *p;

	EML_GUARD(cbor_head(c, &mt, &n));
	if (mt != 3 || n > c->left)
		EML_BAIL(EML_ERR_EIF_SIGNATURE);
	EML_GUARD(eml_cur_take(c, (size_t)n, &p));
	for (size_t i = 0; i < 2; i++) {
		if (strlen(keys[i]) == n && memcmp(p, keys[i], n) == 0) {
			*which = i;
			return EML_OK;
		}
	}
	EML_BAIL(EML_ERR_EIF_SIGNATURE);
}

static eml_err
sig_parse(const uint8_t *p, size_t n, struct eml_buf *cert, struct eml_buf *cose)
{
	struct eml_cur c = eml_cur_make(p, n);
	uint8_t mt;
	uint64_t count, pairs;

	/* nitro-cli writes one element and reads only the first; a second
	 * element would be bytes no tool looks at, so it is refused. */
	EML_GUARD(cbor_head(&c, &mt, &count));
	if (mt != 4 || count != 1)
		EML_BAIL(EML_ERR_EIF_SIGNATURE);
	EML_GUARD(cbor_head(&c, &mt, &pairs));
	if (mt != 5 || pairs != 2)
		EML_BAIL(EML_ERR_EIF_SIGNATURE);
	for (int i = 0; i < 2; i++) {
		size_t which = 0;
		struct eml_buf *dst;

		EML_GUARD(cbor_text_key(&c, &which));
		dst = which == 0 ? cert : cose;
		if (dst->len != 0)
			EML_BAIL(EML_ERR_EIF_SIGNATURE); /* duplicate key */
		EML_GUARD(cbor_byte_array(&c, dst));
		if (dst->len == 0)
			EML_BAIL(EML_ERR_EIF_SIGNATURE);
	}
	if (c.left != 0)
		EML_BAIL(EML_ERR_EIF_SIGNATURE);
	return EML_OK;
}

eml_err
eml_eif_sig_parse(const uint8_t *p, size_t n, struct eml_buf *cert, struct eml_buf *cose)
{
	eml_err rc;

	EML_ENSURE_REF(cert);
	EML_ENSURE_REF(cose);
	rc = sig_parse(p, n, cert, cose);
	if (rc != EML_OK) {
		eml_err_set_detail("signature section is not [{signing_certificate, signature}] "
				   "with byte arrays");
		eml_buf_reset(cert);
		eml_buf_reset(cose);
		EML_BAIL(rc == EML_ERR_NOMEM ? rc : EML_ERR_EIF_SIGNATURE);
	}
	return EML_OK;
}

/* ---------------------------------------------------------------- reader */

struct mem_src {
	const uint8_t *p;
	size_t n;
};

static eml_err
mem_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	const struct mem_src *m = ctx;

	if (off > m->n || n > m->n - off)
		EML_BAIL(EML_ERR_EIF_TRUNCATED);
	EML_MEMCPY(dst, m->p + off, n);
	return EML_OK;
}

static eml_err
fd_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	int fd = *(int *)ctx;
	uint8_t *d = dst;

	while (n > 0) {
		ssize_t r = pread(fd, d, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			eml_err_set_detail("read at %llu: %s", (unsigned long long)off, strerror(errno));
			EML_BAIL(EML_ERR_FILE);
		}
		if (r == 0)
			EML_BAIL(EML_ERR_EIF_TRUNCATED); /* shrank under us */
		d += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return EML_OK;
}

static void
info_init(struct eml_eif_info *info)
{
	memset(info, 0, sizeof(*info));
	eml_buf_init(&info->metadata, EML_EIF_METADATA_MAX);
}

void
eml_eif_info_free(struct eml_eif_info *info)
{
	if (info != NULL)
		eml_buf_free_nowipe(&info->metadata);
}

static const char *
type_name(uint16_t t)
{
	static const char *const names[] = { "invalid", "kernel", "cmdline", "ramdisk",
		"signature", "metadata" };
	return t < 6 ? names[t] : "unknown";
}

/* Header fields; the section tables are checked by check_tables. */
static eml_err
parse_header(struct eml_cur *c, struct eml_eif_info *info, uint64_t off[32], uint64_t size[32])
{
	const uint8_t *magic;
	uint16_t reserved16;
	uint32_t reserved32;

	EML_GUARD(eml_cur_take(c, 4, &magic));
	if (memcmp(magic, ".eif", 4) != 0)
		EML_BAIL(EML_ERR_EIF_MAGIC);
	EML_GUARD(eml_cur_read_u16be(c, &info->version));
	if (info->version < 2 || info->version > 4) {
		eml_err_set_detail("version %u", info->version);
		EML_BAIL(EML_ERR_EIF_VERSION);
	}
	EML_GUARD(eml_cur_read_u16be(c, &info->flags));
	if ((info->flags & ~EML_EIF_FLAG_ARM64) != 0) {
		eml_err_set_detail("flags 0x%04x", info->flags);
		EML_BAIL(EML_ERR_EIF_FLAGS);
	}
	EML_GUARD(eml_cur_read_u64be(c, &info->default_mem));
	EML_GUARD(eml_cur_read_u64be(c, &info->default_cpus));
	EML_GUARD(eml_cur_read_u16be(c, &reserved16));
	EML_GUARD(eml_cur_read_u16be(c, &info->num_sections));
	for (int i = 0; i < 32; i++)
		EML_GUARD(eml_cur_read_u64be(c, &off[i]));
	for (int i = 0; i < 32; i++)
		EML_GUARD(eml_cur_read_u64be(c, &size[i]));
	EML_GUARD(eml_cur_read_u32be(c, &reserved32));
	EML_GUARD(eml_cur_read_u32be(c, &info->crc32));
	if (reserved16 != 0 || reserved32 != 0) {
		eml_err_set_detail("reserved header field not zero");
		EML_BAIL(EML_ERR_EIF_RESERVED);
	}
	return EML_OK;
}

static eml_err
check_tables(struct eml_eif_info *info, const uint64_t off[32], const uint64_t size[32])
{
	uint64_t at = EML_EIF_HEADER_LEN;
	unsigned n = info->num_sections;

	if (n < 2 || n > EML_EIF_MAX_SECTIONS) {
		eml_err_set_detail("%u sections", n);
		EML_BAIL(EML_ERR_EIF_SECTION_COUNT);
	}
	for (unsigned i = n; i < EML_EIF_MAX_SECTIONS; i++) {
		if (off[i] != 0 || size[i] != 0) {
			eml_err_set_detail("unused section slot %u not zero", i);
			EML_BAIL(EML_ERR_EIF_RESERVED);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (off[i] != at) {
			eml_err_set_detail("section %u at offset %llu, expected %llu", i,
			    (unsigned long long)off[i], (unsigned long long)at);
			EML_BAIL(EML_ERR_EIF_OFFSETS);
		}
		if (eml_add_overflow(at, (uint64_t)EML_EIF_SECTION_HEADER_LEN, &at) ||
		    eml_add_overflow(at, size[i], &at)) {
			eml_err_set_detail("section %u size overflows", i);
			EML_BAIL(EML_ERR_EIF_TRUNCATED);
		}
		info->sec[i].offset = off[i];
		info->sec[i].size = size[i];
	}
	if (at > info->file_size) {
		eml_err_set_detail("sections end at %llu, file has %llu bytes",
		    (unsigned long long)at, (unsigned long long)info->file_size);
		EML_BAIL(EML_ERR_EIF_TRUNCATED);
	}
	if (at < info->file_size) {
		eml_err_set_detail("%llu bytes after the last section",
		    (unsigned long long)(info->file_size - at));
		EML_BAIL(EML_ERR_EIF_TRAILING);
	}
	return EML_OK;
}

struct walk {
	unsigned seen[6];
	uint32_t crc;
	struct eml_eif_pcr_state pcr;
	struct eml_buf sig;
};

/* The section rules, checked from the section header alone. */
static eml_err
check_section(const struct eml_eif_info *info, struct walk *w, unsigned i, uint16_t type,
    uint16_t flags, uint64_t size)
{
	static const uint64_t max[6] = { 0, EML_EIF_KERNEL_MAX, EML_EIF_CMDLINE_MAX,
		EML_EIF_RAMDISK_MAX, EML_EIF_SIGNATURE_MAX, EML_EIF_METADATA_MAX };

	if (type == EML_EIF_SEC_INVALID || type > EML_EIF_SEC_METADATA ||
	    (type == EML_EIF_SEC_SIGNATURE && info->version < 3) ||
	    (type == EML_EIF_SEC_METADATA && info->version < 4)) {
		eml_err_set_detail("section %u: type %u in a version %u image", i, type,
		    info->version);
		EML_BAIL(EML_ERR_EIF_SECTION_TYPE);
	}
	if (flags != 0) {
		eml_err_set_detail("section %u (%s): flags 0x%04x", i, type_name(type), flags);
		EML_BAIL(EML_ERR_EIF_SECTION_FLAGS);
	}
	if (size != info->sec[i].size) {
		eml_err_set_detail("section %u (%s): %llu bytes, header table says %llu", i,
		    type_name(type), (unsigned long long)size,
		    (unsigned long long)info->sec[i].size);
		EML_BAIL(EML_ERR_EIF_SECTION_SIZE);
	}
	if (type != EML_EIF_SEC_RAMDISK && w->seen[type] != 0) {
		eml_err_set_detail("section %u: a second %s", i, type_name(type));
		EML_BAIL(EML_ERR_EIF_SECTION_DUP);
	}
	if (type == EML_EIF_SEC_RAMDISK && w->seen[EML_EIF_SEC_KERNEL] == 0) {
		eml_err_set_detail("section %u: ramdisk before the kernel", i);
		EML_BAIL(EML_ERR_EIF_SECTION_ORDER);
	}
	if (size > max[type]) {
		eml_err_set_detail("section %u (%s): %llu bytes, limit %llu", i, type_name(type),
		    (unsigned long long)size, (unsigned long long)max[type]);
		EML_BAIL(EML_ERR_EIF_TOO_LARGE);
	}
	return EML_OK;
}

static eml_err
read_section(const struct eml_eif_src *src, struct eml_eif_info *info, struct walk *w,
    unsigned i, uint8_t *chunk)
{
	uint8_t hdr[EML_EIF_SECTION_HEADER_LEN];
	struct eml_cur c = eml_cur_make(hdr, sizeof(hdr));
	uint16_t type, flags;
	uint64_t size, off, left;
	bool measured;

	EML_GUARD(src->read(src->ctx, info->sec[i].offset, hdr, sizeof(hdr)));
	EML_GUARD(eml_cur_read_u16be(&c, &type));
	EML_GUARD(eml_cur_read_u16be(&c, &flags));
	EML_GUARD(eml_cur_read_u64be(&c, &size));
	EML_GUARD(check_section(info, w, i, type, flags, size));
	w->seen[type]++;
	info->sec[i].type = type;
	w->crc = eml_eif_crc32(w->crc, hdr, sizeof(hdr));
	measured = type == EML_EIF_SEC_KERNEL || type == EML_EIF_SEC_CMDLINE ||
	    type == EML_EIF_SEC_RAMDISK;
	if (measured)
		EML_GUARD(eml_eif_pcr_section(&w->pcr, type));
	off = info->sec[i].offset + EML_EIF_SECTION_HEADER_LEN;
	for (left = size; left > 0;) {
		size_t n = left > CHUNK ? CHUNK : (size_t)left;

		EML_GUARD(src->read(src->ctx, off, chunk, n));
		w->crc = eml_eif_crc32(w->crc, chunk, n);
		if (measured)
			EML_GUARD(eml_eif_pcr_update(&w->pcr, chunk, n));
		else if (type == EML_EIF_SEC_METADATA)
			EML_GUARD(eml_buf_append(&info->metadata, chunk, n));
		else
			EML_GUARD(eml_buf_append(&w->sig, chunk, n));
		off += n;
		left -= n;
	}
	return EML_OK;
}

/* nitro-cli's reader fails on metadata it cannot deserialise; so do we. */
static eml_err
check_metadata(const struct eml_eif_info *info)
{
	static const char *const keys[] = { "ImageName", "ImageVersion", "BuildMetadata",
		"DockerInfo", "CustomMetadata" };
	json_error_t jerr;
	json_t *o;
	eml_err rc = EML_OK;

	o = json_loadb((const char *)info->metadata.data, info->metadata.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		eml_err_set_detail("metadata: %s", o == NULL ? jerr.text : "not an object");
		rc = EML_ERR_EIF_METADATA;
	}
	for (size_t i = 0; rc == EML_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (json_object_get(o, keys[i]) == NULL) {
			eml_err_set_detail("metadata: no %s", keys[i]);
			rc = EML_ERR_EIF_METADATA;
		}
	}
	if (rc == EML_OK && (!json_is_string(json_object_get(o, "ImageName")) ||
				!json_is_string(json_object_get(o, "ImageVersion")) ||
				!json_is_object(json_object_get(o, "BuildMetadata")))) {
		eml_err_set_detail("metadata: ImageName, ImageVersion or BuildMetadata of the "
				   "wrong type");
		rc = EML_ERR_EIF_METADATA;
	}
	json_decref(o);
	if (rc != EML_OK)
		EML_BAIL(rc);
	return EML_OK;
}

static eml_err
finish(struct eml_eif_info *info, struct walk *w)
{
	struct eml_buf cert, cose;
	eml_err rc;

	if (w->seen[EML_EIF_SEC_KERNEL] == 0 || w->seen[EML_EIF_SEC_CMDLINE] == 0 ||
	    w->seen[EML_EIF_SEC_RAMDISK] == 0 ||
	    (info->version >= 4 && w->seen[EML_EIF_SEC_METADATA] == 0)) {
		eml_err_set_detail("kernel %u, cmdline %u, ramdisks %u, metadata %u",
		    w->seen[1], w->seen[2], w->seen[3], w->seen[5]);
		EML_BAIL(EML_ERR_EIF_SECTION_MISSING);
	}
	if (w->crc != info->crc32) {
		eml_err_set_detail("stored 0x%08x, computed 0x%08x", info->crc32, w->crc);
		EML_BAIL(EML_ERR_EIF_CRC);
	}
	info->ramdisks = w->seen[EML_EIF_SEC_RAMDISK];
	EML_GUARD(eml_eif_pcr_final(&w->pcr, info->pcr));
	if (w->seen[EML_EIF_SEC_METADATA] != 0)
		EML_GUARD(check_metadata(info));
	if (w->seen[EML_EIF_SEC_SIGNATURE] == 0)
		return EML_OK;
	eml_buf_init(&cert, EML_EIF_SIGNATURE_MAX);
	eml_buf_init(&cose, EML_EIF_SIGNATURE_MAX);
	rc = eml_eif_sig_parse(w->sig.data, w->sig.len, &cert, &cose);
	if (rc == EML_OK)
		rc = eml_eif_pcr8_from_pem(cert.data, cert.len, info->pcr8);
	eml_buf_free_nowipe(&cert);
	eml_buf_free_nowipe(&cose);
	EML_GUARD(rc);
	info->is_signed = true;
	return EML_OK;
}

eml_err
eml_eif_measure(const struct eml_eif_src *src, struct eml_eif_info *info)
{
	uint8_t hdr[EML_EIF_HEADER_LEN];
	uint64_t off[32], size[32];
	struct eml_cur c = eml_cur_make(hdr, sizeof(hdr));
	struct walk w;
	uint8_t *chunk = NULL;
	eml_err rc;

	EML_ENSURE_REF(info);
	info_init(info);
	EML_ENSURE_REF(src);
	memset(&w, 0, sizeof(w));
	eml_buf_init(&w.sig, EML_EIF_SIGNATURE_MAX);
	info->file_size = src->size;
	if (src->size < EML_EIF_HEADER_LEN) {
		/* A short file that does not even start like an EIF is
		 * reported as such: the more useful of the two answers. */
		if (src->size < 4 || src->read(src->ctx, 0, hdr, 4) != EML_OK ||
		    memcmp(hdr, ".eif", 4) != 0)
			EML_BAIL(EML_ERR_EIF_MAGIC);
		eml_err_set_detail("%llu bytes, the header alone is %u",
		    (unsigned long long)src->size, EML_EIF_HEADER_LEN);
		EML_BAIL(EML_ERR_EIF_TRUNCATED);
	}
	EML_GUARD(src->read(src->ctx, 0, hdr, sizeof(hdr)));
	EML_GUARD(parse_header(&c, info, off, size));
	EML_GUARD(check_tables(info, off, size));
	EML_GUARD(eml_eif_pcr_init(&w.pcr));
	chunk = eml_alloc(CHUNK);
	if (chunk == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	w.crc = eml_eif_crc32(0, hdr, EML_EIF_HEADER_LEN - 4);
	for (unsigned i = 0; i < info->num_sections; i++) {
		if ((rc = read_section(src, info, &w, i, chunk)) != EML_OK)
			goto out;
	}
	rc = finish(info, &w);
out:
	eml_free(chunk);
	eml_eif_pcr_free(&w.pcr);
	eml_buf_free_nowipe(&w.sig);
	return rc;
}

eml_err
eml_eif_measure_mem(const uint8_t *p, size_t n, struct eml_eif_info *info)
{
	struct mem_src m = { p, p == NULL ? 0 : n };
	struct eml_eif_src src = { mem_read, &m, m.n };

	return eml_eif_measure(&src, info);
}

eml_err
eml_eif_measure_file(const char *path, struct eml_eif_info *info)
{
	struct eml_eif_src src;
	struct stat st;
	int fd;
	eml_err rc;

	EML_ENSURE_REF(info);
	info_init(info);
	EML_ENSURE_REF(path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		eml_err_set_detail("%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			(void)close(fd);
		EML_BAIL(EML_ERR_FILE);
	}
	src.read = fd_read;
	src.ctx = &fd;
	src.size = (uint64_t)st.st_size;
	rc = eml_eif_measure(&src, info);
	(void)close(fd);
	return rc;
}

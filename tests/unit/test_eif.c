/*
 * EIF reader, PCR calculator, writer, signing and cpio (eif-build/).
 *
 * Known answers: tests/vectors/eif/synthetic.{eif,json}, written by
 * tests/vectors/eif/make_vectors.py from the format's definition with
 * Python's hashlib/zlib, independently of this C code. The empty-content
 * PCR equals the PCR2 that real single-ramdisk Nitro images publish; the
 * PCR3 value is the one for the IAM role ARN below. The signature-section
 * CBOR bytes are the serde encoding nitro-cli writes (arrays of small
 * unsigned integers), spelled out here head by head.
 */
#include "eml_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "eif-build/eml_cpio.h"
#include "eif-build/eml_eif.h"
#include "eml_buf.h"
#include "eml_mem.h"

#define SYN_SHA256 "11d265f5deb6ae6657209e53dec6ac8b553166540d531486c6c124b67c29c697"
#define SYN_PCR0                                                                                \
	"6f236bedd341cac04895cbda513739f78682c1c33934656704f5072de95cc8b33d98d99292b21d8c7551c4" \
	"5a6b54a1f8"
#define SYN_PCR1                                                                                \
	"478dea37c4cbf7a807c622e20cd75a7fd0d1777b28707720faf3a8ab2b12c9d724d304ac3875a53b4e7f46" \
	"3669f7507b"
#define SYN_PCR2                                                                                \
	"b76036a6963404c7fe1249127a5c2fc684090bd30f0386d9b643e2e11e203f2fb62d50ea1af96ad3bc6ba9" \
	"74c3b1c79a"
#define PCR_EMPTY                                                                               \
	"21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7" \
	"b964fc500a"
#define PCR3_ARN                                                                                \
	"78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e" \
	"312e6921e6"
#define SHA384_EMPTY                                                                            \
	"38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2" \
	"f14898b95b"

static void
assert_hex(const uint8_t *p, size_t n, const char *want)
{
	char h[2 * 64 + 1];

	assert_true(n <= 64);
	eml_hex_encode(h, p, n);
	assert_string_equal(h, want);
}

static char tmpdir[256];

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/eml-eif-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *
tmp_path(const char *name)
{
	static char p[512];

	(void)snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

/* ------------------------------------------------------ known answers */

static void
hash_vectors(void **state)
{
	uint8_t d[48];
	static const char arn[] = "arn:aws:iam::123456789012:role/Webserver";
	uint8_t buf[48 + sizeof(arn) - 1];

	(void)state;
	assert_int_equal(EVP_Digest("", 0, d, NULL, EVP_sha384(), NULL), 1);
	assert_hex(d, 48, SHA384_EMPTY);
	assert_eml_ok(eml_eif_pcr_of(NULL, 0, d));
	assert_hex(d, 48, PCR_EMPTY);
	/* PCR3 extends with the ARN's bytes themselves. */
	memset(buf, 0, 48);
	memcpy(buf + 48, arn, sizeof(arn) - 1);
	assert_int_equal(EVP_Digest(buf, sizeof(buf), d, NULL, EVP_sha384(), NULL), 1);
	assert_hex(d, 48, PCR3_ARN);
	/* CRC-32/ISO-HDLC check value. */
	assert_int_equal(eml_eif_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(eml_eif_crc32(eml_eif_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static const struct eml_eif_blob syn_ramdisks[2] = {
	{ NULL, (const uint8_t *)"boot", 4 },
	{ NULL, (const uint8_t *)"app", 3 },
};

static struct eml_eif_spec
syn_spec(const char *metadata)
{
	struct eml_eif_spec s;

	memset(&s, 0, sizeof(s));
	s.kernel.p = (const uint8_t *)"kernel";
	s.kernel.n = 6;
	s.cmdline.p = (const uint8_t *)"console=ttyS0";
	s.cmdline.n = 13;
	s.metadata.p = (const uint8_t *)metadata;
	s.metadata.n = strlen(metadata);
	s.ramdisks = syn_ramdisks;
	s.ramdisk_count = 2;
	s.default_mem = 1ull << 30;
	s.default_cpus = 2;
	return s;
}

static const char good_meta[] = "{\"ImageName\":\"t\",\"ImageVersion\":\"1\",\"BuildMetadata\":"
				"{\"BuildTime\":\"1970-01-01T00:00:00Z\"},\"DockerInfo\":null,"
				"\"CustomMetadata\":null}";

static void
synthetic_byte_for_byte(void **state)
{
	struct eml_eif_spec s = syn_spec("null");
	uint8_t *want, *got, d[32], pcr[3][48];
	size_t wn = 0, gn = 0;
	static const uint64_t offs[5] = { 548, 566, 591, 607, 623 };
	struct eml_eif_info info;

	(void)state;
	want = eml_test_read_file("tests/vectors/eif/synthetic.eif", &wn);
	assert_eml_ok(eml_eif_write(&s, tmp_path("syn.eif")));
	got = eml_test_read_file(tmp_path("syn.eif"), &gn);
	assert_int_equal(gn, 638);
	assert_int_equal(wn, gn);
	assert_memory_equal(got, want, gn);
	assert_int_equal(EVP_Digest(got, gn, d, NULL, EVP_sha256(), NULL), 1);
	assert_hex(d, 32, SYN_SHA256);
	/* CRC field and the offset table as the vector states them. */
	assert_int_equal(got[544], 0x12);
	assert_int_equal(got[545], 0x2b);
	assert_int_equal(got[546], 0x10);
	assert_int_equal(got[547], 0xfb);
	/* Predicted PCRs. */
	assert_eml_ok(eml_eif_predict(&s, pcr));
	assert_hex(pcr[0], 48, SYN_PCR0);
	assert_hex(pcr[1], 48, SYN_PCR1);
	assert_hex(pcr[2], 48, SYN_PCR2);
	/* The vector's metadata, `null`, is what nitro-cli's reader cannot
	 * deserialise: refused, as it would be there. */
	assert_eml(eml_eif_measure_mem(want, wn, &info), EML_ERR_EIF_METADATA);
	eml_eif_info_free(&info);
	/* The same image with real metadata: the PCRs do not move (metadata
	 * is not measured), and the reader finds them. */
	s = syn_spec(good_meta);
	assert_eml_ok(eml_eif_write(&s, tmp_path("syn2.eif")));
	assert_eml_ok(eml_eif_measure_file(tmp_path("syn2.eif"), &info));
	assert_int_equal(info.version, 4);
	assert_int_equal(info.num_sections, 5);
	assert_int_equal(info.ramdisks, 2);
	assert_false(info.is_signed);
	assert_int_equal(info.sec[0].type, EML_EIF_SEC_KERNEL);
	assert_int_equal(info.sec[2].type, EML_EIF_SEC_METADATA);
	for (int i = 0; i < 2; i++)
		assert_int_equal(info.sec[i].offset, offs[i]);
	assert_hex(info.pcr[0], 48, SYN_PCR0);
	assert_hex(info.pcr[1], 48, SYN_PCR1);
	assert_hex(info.pcr[2], 48, SYN_PCR2);
	assert_int_equal(info.metadata.len, strlen(good_meta));
	eml_eif_info_free(&info);
	eml_free(want);
	eml_free(got);
}

/* A single-ramdisk image: PCR0 == PCR1, PCR2 is the empty-content PCR
 * that published single-ramdisk images show. */
static void
single_ramdisk(void **state)
{
	struct eml_eif_spec s = syn_spec(good_meta);
	struct eml_eif_info info;

	(void)state;
	s.ramdisk_count = 1;
	assert_eml_ok(eml_eif_write(&s, tmp_path("one.eif")));
	assert_eml_ok(eml_eif_measure_file(tmp_path("one.eif"), &info));
	assert_memory_equal(info.pcr[0], info.pcr[1], 48);
	assert_hex(info.pcr[2], 48, PCR_EMPTY);
	eml_eif_info_free(&info);
}

/* ------------------------------------------------- hand-made images */

struct hsec {
	uint16_t type;
	uint16_t flags;
	const char *data;
	int64_t declared; /* section header size; -1: the data's length */
};

/* Assemble an image independently of the writer, with knobs to break
 * it. The CRC is computed over what is written unless crc_delta. */
struct himg {
	uint16_t version, flags, reserved16, nsec_override;
	uint32_t reserved32, crc_delta;
	int64_t off_delta[32];
	int64_t size_delta[32];
	bool dirty_slot;
};

static size_t
himg_build(const struct himg *h, const struct hsec *secs, size_t n, uint8_t *out, size_t cap)
{
	uint64_t at = 548;
	size_t len = 548;
	uint32_t crc;

	memset(out, 0, 548);
	memcpy(out, ".eif", 4);
	out[4] = (uint8_t)(h->version >> 8);
	out[5] = (uint8_t)h->version;
	out[6] = (uint8_t)(h->flags >> 8);
	out[7] = (uint8_t)h->flags;
	eml_store_u64be(out + 8, 1ull << 30);
	eml_store_u64be(out + 16, 2);
	out[0x18] = (uint8_t)(h->reserved16 >> 8);
	out[0x19] = (uint8_t)h->reserved16;
	out[0x1a] = 0;
	out[0x1b] = (uint8_t)(h->nsec_override != 0 ? h->nsec_override : n);
	for (size_t i = 0; i < n; i++) {
		size_t dl = strlen(secs[i].data);

		eml_store_u64be(out + 0x1c + 8 * i, (uint64_t)((int64_t)at + h->off_delta[i]));
		eml_store_u64be(out + 0x11c + 8 * i, (uint64_t)((int64_t)dl + h->size_delta[i]));
		assert_true(len + 12 + dl <= cap);
		out[len] = (uint8_t)(secs[i].type >> 8);
		out[len + 1] = (uint8_t)secs[i].type;
		out[len + 2] = (uint8_t)(secs[i].flags >> 8);
		out[len + 3] = (uint8_t)secs[i].flags;
		eml_store_u64be(out + len + 4,
		    secs[i].declared >= 0 ? (uint64_t)secs[i].declared : (uint64_t)dl);
		memcpy(out + len + 12, secs[i].data, dl);
		len += 12 + dl;
		at += 12 + dl;
	}
	if (h->dirty_slot)
		eml_store_u64be(out + 0x1c + 8 * 31, 1);
	eml_store_u32be(out + 0x21c, h->reserved32);
	crc = eml_eif_crc32(0, out, 544);
	crc = eml_eif_crc32(crc, out + 548, len - 548);
	eml_store_u32be(out + 544, crc + h->crc_delta);
	return len;
}

#define META "{\"ImageName\":\"x\",\"ImageVersion\":\"1\",\"BuildMetadata\":{},\"DockerInfo\":null,\"CustomMetadata\":null}"

static const struct hsec good[] = {
	{ 1, 0, "kernel", -1 },
	{ 2, 0, "console=ttyS0", -1 },
	{ 5, 0, META, -1 },
	{ 3, 0, "boot", -1 },
	{ 3, 0, "app", -1 },
};

static eml_err
try_img(const struct himg *h, const struct hsec *secs, size_t n, size_t cut, size_t extra)
{
	static uint8_t buf[8192];
	struct eml_eif_info info;
	size_t len = himg_build(h, secs, n, buf, sizeof(buf));
	eml_err rc;

	assert_true(cut <= len && len + extra <= sizeof(buf));
	memset(buf + len, 0, extra);
	rc = eml_eif_measure_mem(buf, len - cut + extra, &info);
	if (rc == EML_OK) {
		assert_hex(info.pcr[0], 48, SYN_PCR0);
		assert_hex(info.pcr[1], 48, SYN_PCR1);
		assert_hex(info.pcr[2], 48, SYN_PCR2);
	}
	eml_eif_info_free(&info);
	return rc;
}

static struct himg
base(void)
{
	struct himg h;

	memset(&h, 0, sizeof(h));
	h.version = 4;
	return h;
}

static void
malformed_headers(void **state)
{
	struct himg h = base();
	struct hsec s[6];
	uint8_t tiny[600];
	struct eml_eif_info info;

	(void)state;
	/* The hand-made good image reads, with the vector's PCRs. */
	assert_eml_ok(try_img(&h, good, 5, 0, 0));
	/* Too short to be anything, and a header cut short. */
	assert_eml(eml_eif_measure_mem((const uint8_t *)"ELF", 3, &info), EML_ERR_EIF_MAGIC);
	eml_eif_info_free(&info);
	memset(tiny, 0, sizeof(tiny));
	memcpy(tiny, ".eif", 4);
	assert_eml(eml_eif_measure_mem(tiny, 547, &info), EML_ERR_EIF_TRUNCATED);
	eml_eif_info_free(&info);
	assert_eml(eml_eif_measure_mem(NULL, 0, &info), EML_ERR_EIF_MAGIC);
	eml_eif_info_free(&info);
	/* Magic. */
	{
		uint8_t buf[2048];
		size_t len = himg_build(&h, good, 5, buf, sizeof(buf));
		buf[0] = 'E';
		assert_eml(eml_eif_measure_mem(buf, len, &info), EML_ERR_EIF_MAGIC);
		eml_eif_info_free(&info);
	}
	h.version = 1;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_VERSION);
	h.version = 5;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_VERSION);
	h = base();
	h.flags = 2;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_FLAGS);
	h.flags = EML_EIF_FLAG_ARM64; /* the arch bit alone is fine */
	assert_eml_ok(try_img(&h, good, 5, 0, 0));
	h = base();
	h.reserved16 = 1;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_RESERVED);
	h = base();
	h.reserved32 = 1;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_RESERVED);
	h = base();
	h.dirty_slot = true;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_RESERVED);
	h = base();
	h.nsec_override = 33;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_SECTION_COUNT);
	assert_eml(try_img(&h, good, 1, 0, 0), EML_ERR_EIF_SECTION_COUNT);
	/* Offsets: first not at 548, a later one off by one (the walk and
	 * the table would disagree). */
	h = base();
	h.off_delta[0] = 1;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_OFFSETS);
	h = base();
	h.off_delta[3] = -1;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_OFFSETS);
	/* Table size != section header size. */
	h = base();
	h.size_delta[4] = 1; /* sections now end past the file */
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_TRUNCATED);
	memcpy(s, good, sizeof(good));
	s[4].declared = 2;
	h = base();
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_SECTION_SIZE);
	/* A byte after the last section; a byte short. */
	assert_eml(try_img(&h, good, 5, 0, 1), EML_ERR_EIF_TRAILING);
	assert_eml(try_img(&h, good, 5, 1, 0), EML_ERR_EIF_TRUNCATED);
	/* CRC. */
	h.crc_delta = 1;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_CRC);
}

static void
malformed_sections(void **state)
{
	struct himg h = base();
	struct hsec s[6];
	char big[EML_EIF_CMDLINE_MAX + 2];

	(void)state;
	memcpy(s, good, sizeof(good));
	s[1].type = 0;
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_SECTION_TYPE);
	s[1].type = 6;
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_SECTION_TYPE);
	/* Metadata in a version 3 image, a signature in a version 2 one. */
	h.version = 3;
	assert_eml(try_img(&h, good, 5, 0, 0), EML_ERR_EIF_SECTION_TYPE);
	h = base();
	memcpy(s, good, sizeof(good));
	s[1].flags = 1;
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_SECTION_FLAGS);
	/* Two kernels; two cmdlines; two metadata sections. */
	memcpy(s, good, sizeof(good));
	s[1].type = 1;
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_SECTION_DUP);
	memcpy(s, good, sizeof(good));
	s[5] = s[2];
	assert_eml(try_img(&h, s, 6, 0, 0), EML_ERR_EIF_SECTION_DUP);
	/* A ramdisk before the kernel. */
	memcpy(s, good, sizeof(good));
	s[0] = good[3];
	s[3] = good[0];
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_SECTION_ORDER);
	/* No cmdline; no ramdisk; no metadata in version 4. */
	assert_eml(try_img(&h, (const struct hsec[]){ good[0], good[2], good[3] }, 3, 0, 0),
	    EML_ERR_EIF_SECTION_MISSING);
	assert_eml(try_img(&h, (const struct hsec[]){ good[0], good[1], good[2] }, 3, 0, 0),
	    EML_ERR_EIF_SECTION_MISSING);
	assert_eml(
	    try_img(&h, (const struct hsec[]){ good[0], good[1], good[3], good[4] }, 4, 0, 0),
	    EML_ERR_EIF_SECTION_MISSING);
	/* Version 3 without metadata is legal, and measures the same. */
	h.version = 3;
	assert_eml_ok(
	    try_img(&h, (const struct hsec[]){ good[0], good[1], good[3], good[4] }, 4, 0, 0));
	/* Order is free otherwise: metadata last. */
	h = base();
	assert_eml_ok(try_img(&h,
	    (const struct hsec[]){ good[0], good[1], good[3], good[4], good[2] }, 5, 0, 0));
	/* A cmdline after the first ramdisk still belongs to PCR1; content
	 * is taken in file order. */
	{
		static uint8_t buf[2048];
		struct eml_eif_info info;
		uint8_t p0[48], p1[48];
		size_t len = himg_build(&h,
		    (const struct hsec[]){ good[0], good[3], good[1], good[4], good[2] }, 5, buf,
		    sizeof(buf));

		assert_eml_ok(eml_eif_measure_mem(buf, len, &info));
		assert_eml_ok(eml_eif_pcr_of("kernelbootconsole=ttyS0app", 26, p0));
		assert_eml_ok(eml_eif_pcr_of("kernelbootconsole=ttyS0", 23, p1));
		assert_memory_equal(info.pcr[0], p0, 48);
		assert_memory_equal(info.pcr[1], p1, 48);
		assert_hex(info.pcr[2], 48, SYN_PCR2);
		eml_eif_info_free(&info);
	}
	/* A cmdline above the limit. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(s, good, sizeof(good));
	s[1].data = big;
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_TOO_LARGE);
	/* Metadata that nitro-cli could not read. */
	memcpy(s, good, sizeof(good));
	s[2].data = "{\"ImageName\":\"x\"}";
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_METADATA);
	s[2].data = "{not json";
	assert_eml(try_img(&h, s, 5, 0, 0), EML_ERR_EIF_METADATA);
}

/* ------------------------------------------------------ signatures */

static const char mock_pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
static const uint8_t mock_cose[] = { 0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x40, 0x40 };

/* Append the serde encoding of bytes: array head, then each byte as a
 * CBOR unsigned integer (0x00..0x17 inline, else 0x18 NN). */
static void
expect_uint_array(struct eml_buf *b, const uint8_t *p, size_t n)
{
	if (n < 24) {
		assert_eml_ok(eml_buf_append_u8(b, (uint8_t)(0x80 + n)));
	} else {
		assert_true(n < 256);
		assert_eml_ok(eml_buf_append_u8(b, 0x98));
		assert_eml_ok(eml_buf_append_u8(b, (uint8_t)n));
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 24)
			assert_eml_ok(eml_buf_append_u8(b, 0x18));
		assert_eml_ok(eml_buf_append_u8(b, p[i]));
	}
}

static void
signature_cbor_vectors(void **state)
{
	struct eml_buf got, want, cert, cose;
	uint8_t v[48];
	struct himg h = base();
	struct hsec s[6];

	(void)state;
	eml_buf_init(&got, 4096);
	eml_buf_init(&want, 4096);
	eml_buf_init(&cert, 4096);
	eml_buf_init(&cose, 4096);
	/* Section: 81 a2 73 "signing_certificate" 98 3b <59 bytes as uints>
	 * 69 "signature" 8a <10 bytes as uints>. */
	assert_eml_ok(eml_eif_sig_encode((const uint8_t *)mock_pem, strlen(mock_pem), mock_cose,
	    sizeof(mock_cose), &got));
	assert_eml_ok(eml_buf_append(&want, "\x81\xa2\x73signing_certificate", 22));
	expect_uint_array(&want, (const uint8_t *)mock_pem, strlen(mock_pem));
	assert_eml_ok(eml_buf_append(&want, "\x69signature", 10));
	expect_uint_array(&want, mock_cose, sizeof(mock_cose));
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, got.len);
	/* Its first bytes as the format's reference test spells them. */
	assert_int_equal(got.data[22], 0x98);
	assert_int_equal(got.data[23], 0x3b);
	assert_int_equal(got.data[24], 0x18);
	assert_int_equal(got.data[25], 0x2d);
	assert_eml_ok(eml_eif_sig_parse(got.data, got.len, &cert, &cose));
	assert_int_equal(cert.len, strlen(mock_pem));
	assert_memory_equal(cert.data, mock_pem, cert.len);
	assert_int_equal(cose.len, sizeof(mock_cose));
	/* "MIIB" is no certificate: a signed image carrying it has no PCR8. */
	memcpy(s, good, sizeof(good));
	s[5] = (struct hsec){ 4, 0, NULL, -1 };
	eml_buf_reset(&got);
	assert_eml_ok(eml_eif_sig_encode((const uint8_t *)mock_pem, strlen(mock_pem), mock_cose,
	    sizeof(mock_cose), &got));
	assert_eml_ok(eml_buf_append_u8(&got, 0));
	/* The encoding holds no zero byte, so it travels as a C string. */
	assert_int_equal(strlen((const char *)got.data), got.len - 1);
	s[5].data = (const char *)got.data;
	assert_eml(try_img(&h, s, 6, 0, 0), EML_ERR_EIF_CERT);
	/* A signature section in a version 2 image (no metadata there). */
	h.version = 2;
	assert_eml(try_img(&h, (const struct hsec[]){ good[0], good[1], good[3], s[5] }, 4, 0, 0),
	    EML_ERR_EIF_SECTION_TYPE);
	h.version = 4;
	/* PCR payload: a2 6e "register_index" 00 6e "register_value" 98 30
	 * then 0..47 as uints. */
	for (int i = 0; i < 48; i++)
		v[i] = (uint8_t)i;
	eml_buf_reset(&got);
	eml_buf_reset(&want);
	assert_eml_ok(eml_eif_pcr_payload(0, v, &got));
	assert_eml_ok(eml_buf_append(&want, "\xa2\x6eregister_index\x00\x6eregister_value", 32));
	expect_uint_array(&want, v, 48);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, got.len);
	/* Malformed sections: a byte string instead of an array, a value
	 * above 255, a second element, an unknown key, trailing bytes. */
	{
		static const uint8_t bad1[] = { 0x81, 0xa2, 0x73 };
		static const uint8_t bad2[] = { 0x80 };
		eml_buf_reset(&cert);
		eml_buf_reset(&cose);
		assert_eml(eml_eif_sig_parse(bad1, sizeof(bad1), &cert, &cose), EML_ERR_EIF_SIGNATURE);
		assert_eml(eml_eif_sig_parse(bad2, sizeof(bad2), &cert, &cose), EML_ERR_EIF_SIGNATURE);
		eml_buf_reset(&got);
		assert_eml_ok(eml_eif_sig_encode((const uint8_t *)mock_pem, strlen(mock_pem),
		    mock_cose, sizeof(mock_cose), &got));
		assert_eml_ok(eml_buf_append_u8(&got, 0));
		assert_eml(eml_eif_sig_parse(got.data, got.len, &cert, &cose), EML_ERR_EIF_SIGNATURE);
		got.data[0] = 0x82;
		assert_eml(eml_eif_sig_parse(got.data, got.len - 1, &cert, &cose),
		    EML_ERR_EIF_SIGNATURE);
		got.data[0] = 0x81;
		got.data[24] = 0x19; /* a 16-bit integer where a byte belongs */
		assert_eml(eml_eif_sig_parse(got.data, got.len - 1, &cert, &cose),
		    EML_ERR_EIF_SIGNATURE);
		got.data[24] = 0x18;
		got.data[5] = 'X'; /* "siXning_certificate" */
		assert_eml(eml_eif_sig_parse(got.data, got.len - 1, &cert, &cose),
		    EML_ERR_EIF_SIGNATURE);
	}
	{
		uint8_t pcr8[48];
		assert_eml(eml_eif_pcr8_from_pem((const uint8_t *)mock_pem, strlen(mock_pem), pcr8),
		    EML_ERR_EIF_CERT);
	}
	eml_buf_free(&got);
	eml_buf_free(&want);
	eml_buf_free(&cert);
	eml_buf_free(&cose);
}

/* A self-signed P-384 certificate and its key, as PEM. */
static void
make_signer(struct eml_buf *cert_pem, struct eml_buf *key_pem, uint8_t der_pcr8[48])
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	X509 *x = X509_new();
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
	unsigned char *der = NULL;
	int dl;
	char *p;
	long n;

	assert_non_null(key);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
			     (const unsigned char *)"eml image signer", -1, -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha384()) > 0);
	assert_int_equal(PEM_write_bio_X509(b1, x), 1);
	assert_int_equal(PEM_write_bio_PrivateKey(b2, key, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b1, &p);
	assert_eml_ok(eml_buf_append(cert_pem, p, (size_t)n));
	n = BIO_get_mem_data(b2, &p);
	assert_eml_ok(eml_buf_append(key_pem, p, (size_t)n));
	/* PCR8 the way nitro-cli computes it: OpenSSL's DER of the cert. */
	dl = i2d_X509(x, &der);
	assert_true(dl > 0);
	assert_eml_ok(eml_eif_pcr_of(der, (size_t)dl, der_pcr8));
	OPENSSL_free(der);
	BIO_free(b1);
	BIO_free(b2);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
signed_image_pcr8(void **state)
{
	struct eml_buf cert, key, payload, cose, sect, other;
	uint8_t want8[48], pcr[3][48];
	struct eml_eif_spec s = syn_spec(good_meta);
	struct eml_eif_info info;

	(void)state;
	eml_buf_init(&cert, 65536);
	eml_buf_init(&key, 65536);
	eml_buf_init(&payload, 4096);
	eml_buf_init(&cose, 4096);
	eml_buf_init(&sect, 65536);
	eml_buf_init(&other, 65536);
	make_signer(&cert, &key, want8);
	assert_eml_ok(eml_eif_predict(&s, pcr));
	assert_eml_ok(eml_eif_pcr_payload(0, pcr[0], &payload));
	assert_eml_ok(eml_eif_cose_sign(key.data, key.len, payload.data, payload.len, &cose));
	/* tag 18, array 4, bstr(4) {1: -35}, {}, bstr payload, bstr(96). */
	assert_int_equal(cose.data[0], 0xd2);
	assert_int_equal(cose.data[1], 0x84);
	assert_int_equal(cose.data[cose.len - 98], 0x58);
	assert_int_equal(cose.data[cose.len - 97], 96);
	assert_eml_ok(eml_eif_sig_encode(cert.data, cert.len, cose.data, cose.len, &sect));
	s.signature.p = sect.data;
	s.signature.n = sect.len;
	assert_eml_ok(eml_eif_write(&s, tmp_path("signed.eif")));
	assert_eml_ok(eml_eif_measure_file(tmp_path("signed.eif"), &info));
	assert_true(info.is_signed);
	assert_memory_equal(info.pcr8, want8, 48);
	/* PCR0-2 are those of the unsigned image: the signature is not
	 * measured. */
	assert_hex(info.pcr[0], 48, SYN_PCR0);
	assert_hex(info.pcr[2], 48, SYN_PCR2);
	assert_int_equal(info.sec[info.num_sections - 1].type, EML_EIF_SEC_SIGNATURE);
	eml_eif_info_free(&info);
	/* Another signer: another PCR8. */
	eml_buf_reset(&cert);
	eml_buf_reset(&key);
	make_signer(&cert, &key, pcr[1]);
	assert_eml_ok(eml_eif_pcr8_from_pem(cert.data, cert.len, pcr[2]));
	assert_memory_equal(pcr[1], pcr[2], 48);
	assert_memory_not_equal(pcr[1], want8, 48);
	/* A key that is not P-384 is refused. */
	{
		EVP_PKEY *k = EVP_EC_gen("P-256");
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long n;
		assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_get_mem_data(b, &p);
		eml_buf_reset(&cose);
		assert_eml(eml_eif_cose_sign((const uint8_t *)p, (size_t)n, payload.data,
				   payload.len, &cose),
		    EML_ERR_SIG_KEY);
		BIO_free(b);
		EVP_PKEY_free(k);
	}
	/* Two certificates in the PEM: refused. */
	assert_eml_ok(eml_buf_append(&other, cert.data, cert.len));
	assert_eml_ok(eml_buf_append(&other, cert.data, cert.len));
	assert_eml(eml_eif_pcr8_from_pem(other.data, other.len, pcr[0]), EML_ERR_EIF_CERT);
	eml_buf_free(&cert);
	eml_buf_free(&key);
	eml_buf_free(&payload);
	eml_buf_free(&cose);
	eml_buf_free(&sect);
	eml_buf_free(&other);
}

/* ------------------------------------------------------------- cpio */

static void
cpio_layout(void **state)
{
	struct eml_buf b;
	struct eml_cpio c;
	static const char want_dir[] = "070701"
				       "00000001"
				       "000041ED"
				       "00000000"
				       "00000000"
				       "00000002"
				       "00000000"
				       "00000000"
				       "00000000"
				       "00000000"
				       "00000000"
				       "00000000"
				       "00000004"
				       "00000000"
				       "dev\0";

	(void)state;
	eml_buf_init(&b, 1 << 20);
	eml_cpio_init(&c, &b);
	assert_eml_ok(eml_cpio_dir(&c, "dev", 0755));
	/* 110-byte header + "dev\0" = 114, padded to 116. */
	assert_int_equal(b.len, 116);
	assert_memory_equal(b.data, want_dir, 114);
	assert_eml_ok(eml_cpio_char(&c, "dev/console", 0600, 5, 1));
	assert_eml_ok(eml_cpio_file(&c, "init", 0755, (const uint8_t *)"abcde", 5));
	assert_eml_ok(eml_cpio_end(&c));
	assert_int_equal(b.len % 4, 0);
	/* Names a kernel could be tricked with are refused. */
	assert_eml(eml_cpio_dir(&c, "/abs", 0755), EML_ERR_USAGE);
	assert_eml(eml_cpio_dir(&c, "a/../b", 0755), EML_ERR_USAGE);
	assert_eml(eml_cpio_dir(&c, "a//b", 0755), EML_ERR_USAGE);
	assert_eml(eml_cpio_dir(&c, "a/", 0755), EML_ERR_USAGE);
	assert_eml(eml_cpio_dir(&c, "", 0755), EML_ERR_USAGE);
	assert_eml(eml_cpio_file(&c, "x", 0100755, NULL, 0), EML_ERR_USAGE);
	eml_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_vectors),
		cmocka_unit_test(synthetic_byte_for_byte),
		cmocka_unit_test(single_ramdisk),
		cmocka_unit_test(malformed_headers),
		cmocka_unit_test(malformed_sections),
		cmocka_unit_test(signature_cbor_vectors),
		cmocka_unit_test(signed_image_pcr8),
		cmocka_unit_test(cpio_layout),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Enclave image files (EIF): strict reader, PCR calculator, writer.
 *
 * The format (docs/EIF.md): a 548-byte big-endian header, then sections,
 * each a 12-byte header (type, flags, size) and its data, back to back.
 * The PCRs a Nitro enclave reports for an image are
 *   PCRn = SHA-384(48 zero bytes || SHA-384(content_n))
 * where content_0 is every kernel, cmdline and ramdisk section's data in
 * file order, content_1 the kernel, the cmdline and the first ramdisk, and
 * content_2 every ramdisk after the first. PCR8, only for a signed image,
 * hashes the DER of the signing certificate. Section headers, metadata
 * and the signature are not measured.
 *
 * The reader refuses anything a careful tool could read two ways: the
 * offset table must describe exactly the sections found by walking the
 * file from the header to its end, so nitro-cli (which walks) and QEMU
 * (which seeks by offset) see the same image.
 */
#ifndef EML_EIF_H
#define EML_EIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

#define EML_EIF_HEADER_LEN 548
#define EML_EIF_SECTION_HEADER_LEN 12
#define EML_EIF_MAX_SECTIONS 32
#define EML_EIF_PCR_LEN 48
#define EML_EIF_VERSION 4
#define EML_EIF_FLAG_ARM64 0x1u
/* Size limits per section (EML_ERR_EIF_TOO_LARGE beyond them). */
#define EML_EIF_KERNEL_MAX (256ull << 20)
#define EML_EIF_CMDLINE_MAX 4096u
#define EML_EIF_RAMDISK_MAX (4ull << 30)
#define EML_EIF_METADATA_MAX (1u << 20)
#define EML_EIF_SIGNATURE_MAX 32768u

enum eml_eif_section_type {
	EML_EIF_SEC_INVALID = 0,
	EML_EIF_SEC_KERNEL = 1,
	EML_EIF_SEC_CMDLINE = 2,
	EML_EIF_SEC_RAMDISK = 3,
	EML_EIF_SEC_SIGNATURE = 4,
	EML_EIF_SEC_METADATA = 5,
};

struct eml_eif_section {
	uint16_t type;
	uint64_t offset; /* of the section header */
	uint64_t size;	 /* of the data */
};

struct eml_eif_info {
	uint16_t version;
	uint16_t flags;
	uint64_t default_mem;
	uint64_t default_cpus;
	uint16_t num_sections;
	struct eml_eif_section sec[EML_EIF_MAX_SECTIONS];
	uint32_t crc32;
	uint64_t file_size;
	size_t ramdisks;
	uint8_t pcr[3][EML_EIF_PCR_LEN]; /* PCR0, PCR1, PCR2 */
	bool is_signed;
	uint8_t pcr8[EML_EIF_PCR_LEN];
	struct eml_buf metadata; /* the metadata JSON bytes, empty if none */
};

/* Where the reader gets bytes: read exactly n bytes at off, or fail. */
struct eml_eif_src {
	eml_err (*read)(void *ctx, uint64_t off, void *dst, size_t n);
	void *ctx;
	uint64_t size;
};

/*
 * Parse and measure an image. info is initialised first and must be
 * released with eml_eif_info_free on every path. Returns EML_OK or the
 * first problem found: EML_ERR_EIF_* (each malformed case its own code,
 * detail says where), EML_ERR_FILE, EML_ERR_NOMEM, EML_ERR_CRYPTO.
 */
eml_err eml_eif_measure(const struct eml_eif_src *src, struct eml_eif_info *info) EML_MUST_USE;
eml_err eml_eif_measure_mem(const uint8_t *p, size_t n, struct eml_eif_info *info) EML_MUST_USE;
eml_err eml_eif_measure_file(const char *path, struct eml_eif_info *info) EML_MUST_USE;
void eml_eif_info_free(struct eml_eif_info *info);

/*
 * Running measurement, for predicting the PCRs of an image that does not
 * exist yet: feed the kernel, the cmdline and the ramdisks in the order
 * the image will hold them.
 */
struct eml_eif_pcr_state {
	void *h[3]; /* EVP_MD_CTX for content 0, 1, 2 */
	size_t ramdisks;
	unsigned mask; /* bit i: the current section feeds content i */
};

eml_err eml_eif_pcr_init(struct eml_eif_pcr_state *st) EML_MUST_USE;
/* Call once before the data of each measured section. */
eml_err eml_eif_pcr_section(struct eml_eif_pcr_state *st, uint16_t type) EML_MUST_USE;
eml_err eml_eif_pcr_update(struct eml_eif_pcr_state *st, const void *p, size_t n) EML_MUST_USE;
eml_err eml_eif_pcr_final(struct eml_eif_pcr_state *st, uint8_t out[3][EML_EIF_PCR_LEN]) EML_MUST_USE;
void eml_eif_pcr_free(struct eml_eif_pcr_state *st);

/* SHA-384(48 zero bytes || SHA-384(p, n)): what nitro-cli pcr prints. */
eml_err eml_eif_pcr_of(const void *p, size_t n, uint8_t out[EML_EIF_PCR_LEN]) EML_MUST_USE;

/*
 * PCR8 from the signing certificate as the signature section holds it:
 * PEM bytes with exactly one CERTIFICATE block whose DER is a well-formed
 * certificate in its canonical encoding. EML_OK or EML_ERR_EIF_CERT.
 */
eml_err eml_eif_pcr8_from_pem(const uint8_t *pem, size_t n, uint8_t out[EML_EIF_PCR_LEN]) EML_MUST_USE;

/* CRC-32/ISO-HDLC (zlib's crc32), continued from crc (start with 0). */
uint32_t eml_eif_crc32(uint32_t crc, const void *p, size_t n);

/*
 * The signature section: a CBOR array with one map {"signing_certificate":
 * [bytes as uints], "signature": [bytes as uints]}, the encoding nitro-cli
 * writes. eml_eif_sig_parse checks the whole structure and hands back
 * pointers to nothing (the byte arrays are not contiguous): it copies the
 * certificate into cert (ceiling EML_EIF_SIGNATURE_MAX).
 * EML_OK or EML_ERR_EIF_SIGNATURE.
 */
eml_err eml_eif_sig_encode(const uint8_t *cert_pem, size_t cert_len, const uint8_t *cose,
    size_t cose_len, struct eml_buf *out) EML_MUST_USE;
eml_err eml_eif_sig_parse(const uint8_t *p, size_t n, struct eml_buf *cert, struct eml_buf *cose) EML_MUST_USE;

/*
 * Signing: the COSE_Sign1 (ES384) over the CBOR map {"register_index": 0,
 * "register_value": [PCR0 bytes as uints]} with the operator's P-384 key
 * (PEM). EML_OK, EML_ERR_SIG_KEY, EML_ERR_CRYPTO.
 */
eml_err eml_eif_pcr_payload(unsigned index, const uint8_t pcr[EML_EIF_PCR_LEN], struct eml_buf *out) EML_MUST_USE;
eml_err eml_eif_cose_sign(const uint8_t *key_pem, size_t key_len, const uint8_t *payload,
    size_t payload_len, struct eml_buf *out) EML_MUST_USE;

/* One input of an image being written: a file, or bytes in memory. */
struct eml_eif_blob {
	const char *path;   /* read from this file when set */
	const uint8_t *p;   /* else these bytes */
	size_t n;
};

struct eml_eif_spec {
	struct eml_eif_blob kernel;
	struct eml_eif_blob cmdline;
	struct eml_eif_blob metadata;	 /* JSON; n == 0 and no path: none (version 4 needs it) */
	const struct eml_eif_blob *ramdisks;
	size_t ramdisk_count;
	struct eml_eif_blob signature; /* the encoded section; empty: unsigned */
	uint16_t flags;
	uint64_t default_mem;
	uint64_t default_cpus;
};

/*
 * Write the image to path (a temporary file beside it, then rename), in
 * the order nitro-cli's builder uses: kernel, cmdline, metadata, ramdisks,
 * signature. EML_OK, EML_ERR_FILE, EML_ERR_EIF_TOO_LARGE,
 * EML_ERR_EIF_SECTION_COUNT, EML_ERR_NOMEM, EML_ERR_USAGE (no kernel or
 * ramdisk).
 */
eml_err eml_eif_write(const struct eml_eif_spec *spec, const char *path) EML_MUST_USE;

/* The PCRs the image of spec will have (the measured inputs only). */
eml_err eml_eif_predict(const struct eml_eif_spec *spec, uint8_t pcr[3][EML_EIF_PCR_LEN]) EML_MUST_USE;

#endif

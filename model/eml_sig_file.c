/* The model.sig parser (eml_sig_file.h): bounded, exact, no crypto. */
#include "eml_sig_file.h"

#include <string.h>

#include "eml_buf.h"

/* Ed25519 signatures are 64 bytes (crypto_sign_BYTES). */
#define ED25519_SIG_LEN 64u

bool
eml_sig_len_ok(enum eml_sig_alg alg, size_t n)
{
	if (alg == EML_SIG_ED25519)
		return n == ED25519_SIG_LEN;
	if (alg == EML_SIG_RSA_PKCS1_SHA256)
		return n == 256 || n == 384 || n == 512;
	/* DER SEQUENCE of two INTEGERs of at most 49 bytes (P-384) */
	if (alg == EML_SIG_ECDSA_P384_SHA384)
		return n >= 8 && n <= 104;
	return false;
}

eml_err
eml_sig_parse(const uint8_t *p, size_t n, struct eml_sig *out)
{
	struct eml_cur c = eml_cur_make(p, n);
	uint8_t magic[6];
	uint8_t version;
	uint8_t alg;
	uint16_t klen;
	uint16_t len;

	EML_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	EML_GUARD(eml_cur_read_bytes(&c, magic, sizeof(magic)));
	EML_GUARD(eml_cur_read_u8(&c, &version));
	EML_GUARD(eml_cur_read_u8(&c, &alg));
	if (memcmp(magic, EML_SIG_MAGIC, sizeof(magic)) != 0 || version != EML_SIG_VERSION) {
		eml_err_set_detail("not a model signature file (magic or version)");
		EML_BAIL(EML_ERR_SIG_FORMAT);
	}
	EML_GUARD(eml_cur_read_bytes(&c, out->key_id, sizeof(out->key_id)));
	EML_GUARD(eml_cur_read_u16be(&c, &klen));
	/* Ed25519 keys are their own id; RSA keys travel with the file. */
	if ((alg == EML_SIG_ED25519 && klen != 0) ||
	    (alg != EML_SIG_ED25519 && (klen == 0 || klen > EML_SIG_PUBKEY_MAX))) {
		eml_err_set_detail("algorithm %u with a %u-byte public key", (unsigned)alg,
		    (unsigned)klen);
		EML_BAIL(EML_ERR_SIG_FORMAT);
	}
	EML_GUARD(eml_cur_read_bytes(&c, out->pubkey, klen));
	EML_GUARD(eml_cur_read_u16be(&c, &len));
	if (!eml_sig_len_ok((enum eml_sig_alg)alg, len)) {
		eml_err_set_detail("algorithm %u with a %u-byte signature", (unsigned)alg, (unsigned)len);
		EML_BAIL(EML_ERR_SIG_FORMAT);
	}
	EML_GUARD(eml_cur_read_bytes(&c, out->sig, len));
	EML_GUARD(eml_cur_expect_end(&c));
	out->alg = (enum eml_sig_alg)alg;
	out->pubkey_len = klen;
	out->sig_len = len;
	return EML_OK;
}


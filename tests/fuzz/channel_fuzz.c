/* Target: eml_channel_server_new (ClientHello bytes from the network),
 * eml_channel_server_finish, and eml_channel_open on bodies and headers
 * chosen by the fuzzer. Invariants: no crash; nothing the fuzzer makes up
 * ever authenticates; after the first failure every open returns
 * EML_ERR_CRYPTO_CHANNEL_CLOSED.
 *
 * Input: byte 0 selects the mode. 0: the rest is a ClientHello body.
 * Otherwise: a fresh honest handshake, then the rest is a sequence of
 * [type u8][request-id fill u8][length u16 BE][body] records opened by the
 * agent side.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_channel.h"
#include "eml_envelope.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

static const uint8_t DOC[] = "fuzz attestation document";

static void
hello_mode(const uint8_t *p, size_t n)
{
	struct eml_channel *s = NULL;
	uint8_t nonce[EML_HELLO_NONCE_LEN], pk[EML_X25519_KEY_LEN];
	struct eml_buf resp;

	if (eml_channel_server_new(&s, p, n, nonce, pk) != EML_OK) {
		if (s != NULL)
			abort();
		return;
	}
	eml_buf_init(&resp, 65536);
	if (eml_channel_server_finish(s, DOC, sizeof(DOC), &resp) != EML_OK)
		abort();
	eml_buf_free(&resp);
	eml_channel_free(s);
}

static void
open_mode(const uint8_t *p, size_t n)
{
	struct eml_channel *c = NULL, *s = NULL;
	uint8_t nonce[EML_HELLO_NONCE_LEN], pk[EML_X25519_KEY_LEN];
	struct eml_buf hello, resp, out;
	struct eml_cur in = eml_cur_make(p, n);
	int failed = 0;

	eml_buf_init(&hello, 1024);
	eml_buf_init(&resp, 65536);
	eml_buf_init_secure(&out, 1 << 16);
	if (eml_channel_client_new(&c, &hello) != EML_OK ||
	    eml_channel_server_new(&s, hello.data, hello.len, nonce, pk) != EML_OK ||
	    eml_channel_server_finish(s, DOC, sizeof(DOC), &resp) != EML_OK ||
	    eml_channel_client_finish(c, resp.data, resp.len, pk) != EML_OK)
		abort();
	for (;;) {
		struct eml_envelope e;
		uint8_t type, fill;
		uint16_t len;
		const uint8_t *body;
		eml_err rc;

		if (eml_cur_read_u8(&in, &type) != EML_OK || eml_cur_read_u8(&in, &fill) != EML_OK ||
		    eml_cur_read_u16be(&in, &len) != EML_OK)
			break;
		if (len > in.left)
			len = (uint16_t)in.left;
		if (eml_cur_take(&in, len, &body) != EML_OK)
			abort();
		memset(&e, 0, sizeof(e));
		e.version = (type & 0x80) ? 2 : EML_PROTO_VERSION;
		e.type = type & 0x7f;
		memset(e.request_id, fill, sizeof(e.request_id));
		e.body = body;
		e.body_len = len;
		rc = eml_channel_open(s, &e, &out);
		if (rc == EML_OK)
			abort(); /* forged without the key */
		if (failed && rc != EML_ERR_CRYPTO_CHANNEL_CLOSED)
			abort();
		if (out.len != 0 || eml_channel_is_open(s))
			abort();
		failed = 1;
	}
	eml_buf_free(&out);
	eml_buf_free(&hello);
	eml_buf_free(&resp);
	eml_channel_free(c);
	eml_channel_free(s);
}

EML_FUZZ_TARGET(NULL)
{
	if (size == 0)
		return 0;
	if (data[0] == 0)
		hello_mode(data + 1, size - 1);
	else
		open_mode(data + 1, size - 1);
	return 0;
}

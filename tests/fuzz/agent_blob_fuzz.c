/* Target: the agent's blob source (enclave-agent/eml_agent_link.c:
 * fetch_piece) under eml_blob_open, with the fuzz input as everything the
 * untrusted host answers on the connection (a stream of frames).
 * Invariants: no crash, leak, over-read or hang; the open succeeds only
 * when the bytes are exactly the sealed blob (then the plaintext is the
 * original); on failure the destination is wiped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "enclave-agent/eml_agent_link.h"
#include "model/eml_blob.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

#define PT_LEN 200
static uint8_t key[EML_BLOB_KEY_LEN];
static uint8_t plain[PT_LEN];
static struct eml_buf sealed;
static uint8_t cid[EML_BLOB_ID_LEN];

static eml_err
sink(void *ctx, const void *p, size_t n)
{
	return eml_buf_append(ctx, p, n);
}

/* Once, before the first input. */
static int
fuzz_setup(void)
{
	struct eml_blob_writer *w = NULL;

	for (size_t i = 0; i < PT_LEN; i++)
		plain[i] = (uint8_t)(i * 7 + 1);
	memset(key, 0x42, sizeof(key));
	eml_buf_init(&sealed, 1 << 16);
	if (eml_blob_writer_new(key, 64, PT_LEN, sink, &sealed, &w) != EML_OK ||
	    eml_blob_writer_put(w, plain, PT_LEN) != EML_OK ||
	    eml_blob_writer_finish(w, cid) != EML_OK)
		abort();
	eml_blob_writer_free(w);
	return 0;
}

EML_FUZZ_TARGET(fuzz_setup)
{
	int sv[2];
	struct eml_agent_link l;
	struct eml_agent_blob_ctx ctx;
	struct eml_blob_source src;
	struct eml_blob_expect exp;
	uint8_t dst[PT_LEN];
	eml_err rc;

	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	/* The host's answers are all there before the agent asks. */
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	eml_agent_link_init(&l, sv[0], 1 << 16, 50);
	memset(&ctx, 0, sizeof(ctx));
	ctx.link = &l;
	ctx.content_id = cid;
	ctx.file_size = sealed.len;
	eml_agent_blob_source(&src, &ctx);
	memset(&exp, 0, sizeof(exp));
	exp.key = key;
	exp.content_id = cid;
	exp.cipher = EML_BLOB_CIPHER_XCHACHA20POLY1305;
	exp.chunk_size = 64;
	exp.plaintext_length = PT_LEN;
	exp.file_size = sealed.len;
	memset(dst, 0xee, sizeof(dst));
	rc = eml_blob_open(&src, &exp, dst, sizeof(dst));
	if (rc == EML_OK && memcmp(dst, plain, PT_LEN) != 0)
		abort();
	if (rc != EML_OK)
		for (size_t i = 0; i < PT_LEN; i++)
			if (dst[i] != 0)
				abort();
	eml_agent_blob_ctx_clear(&ctx);
	eml_agent_link_clear(&l);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

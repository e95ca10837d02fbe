/*
 * The agent's blob fetch through the host (enclave-agent/eml_agent_link.c)
 * against a fake host on a socket pair that answers BlobRequests up to a
 * range limit and refuses larger ones with an Error frame, as eml-proxy
 * does. Whole 1 MiB chunks (with their 16-byte tags) are borrowed in
 * order: against the proxy's limit (EML_STORE_RANGE_MAX) four fit in one
 * range; against a host from before issue 16 (4 MiB) the agent falls back
 * to ranges of three, not to 1 MiB pieces; the bytes lent are the blob's.
 */
#include "eml_test.h"

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "enclave-agent/eml_agent_link.h"
#include "host-proxy/eml_store.h"
#include "host-proxy/eml_wire.h"

#define FMAX ((size_t)64 << 20)
#define UNIT (((size_t)1 << 20) + 16) /* a 1 MiB chunk and its tag */
#define NCHUNK 8
#define HDR 48

_Static_assert(EML_AGENT_BLOB_AHEAD <= EML_STORE_RANGE_MAX,
    "the agent asks for no more than the proxy serves");

struct host {
	int fd;
	const uint8_t *blob;
	size_t len;
	size_t range_max;
	int served;
	int refused;
	size_t largest; /* largest range served */
};

static void *
host_main(void *arg)
{
	struct host *h = arg;
	struct eml_buf f, out;

	eml_buf_init(&f, FMAX);
	eml_buf_init(&out, FMAX);
	for (;;) {
		struct eml_envelope env;
		ProtobufCMessage *m = NULL;
		const Eml__V1__BlobRequest *q;
		uint8_t head[64];
		size_t hl = 0;

		memset(&env, 0, sizeof(env));
		if (eml_frame_read(h->fd, FMAX, eml_deadline_in_ms(10000), &f) != EML_OK ||
		    eml_envelope_unpack(&env, f.data, f.len, FMAX) != EML_OK ||
		    env.type != EML_MSG_BLOB_REQUEST ||
		    eml_msg_unpack(&eml__v1__blob_request__descriptor, env.body, env.body_len,
			env.body_len, &m) != EML_OK) {
			eml_envelope_clear(&env);
			break;
		}
		q = (const Eml__V1__BlobRequest *)m;
		eml_buf_reset(&out);
		if (q->length > h->range_max || q->offset + q->length > h->len) {
			h->refused++;
			if (eml_wire_error_frame(env.request_id, EML_ERR_BLOB_RANGE, "range", FMAX,
				&out) != EML_OK)
				break;
		} else {
			h->served++;
			if (q->length > h->largest)
				h->largest = q->length;
			if (eml_wire_blob_response_head(env.request_id, h->len, q->offset,
				(size_t)q->length, FMAX, head, sizeof(head), &hl) != EML_OK ||
			    eml_buf_append(&out, head, hl) != EML_OK ||
			    eml_buf_append(&out, h->blob + q->offset, (size_t)q->length) != EML_OK)
				break;
		}
		eml_msg_free(m);
		eml_envelope_clear(&env);
		if (eml_io_write_full(h->fd, out.data, out.len, eml_deadline_in_ms(10000)) != EML_OK)
			break;
	}
	eml_buf_free_nowipe(&f);
	eml_buf_free_nowipe(&out);
	return NULL;
}

/* Borrow every chunk in order from a host with this range limit. */
static void
fetch_all(size_t range_max, struct host *h)
{
	uint64_t seed = eml_test_seed();
	size_t len = HDR + NCHUNK * UNIT;
	uint8_t *blob = eml_alloc(len), cid[32] = { 7 };
	struct eml_agent_link l;
	struct eml_agent_blob_ctx ctx;
	struct eml_blob_source src;
	pthread_t t;
	int sv[2];

	assert_non_null(blob);
	eml_test_fill(&seed, blob, len);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(h, 0, sizeof(*h));
	h->fd = sv[1];
	h->blob = blob;
	h->len = len;
	h->range_max = range_max;
	assert_int_equal(pthread_create(&t, NULL, host_main, h), 0);
	eml_agent_link_init(&l, sv[0], FMAX, 10000);
	memset(&ctx, 0, sizeof(ctx));
	ctx.link = &l;
	ctx.content_id = cid;
	ctx.file_size = len;
	eml_agent_blob_source(&src, &ctx);
	for (size_t k = 0; k < NCHUNK; k++) {
		const uint8_t *p = NULL;
		void *hold = NULL;

		assert_eml_ok(src.borrow(src.ctx, HDR + k * UNIT, UNIT, &p, &hold));
		assert_non_null(p); /* lent in place, not read piecewise */
		assert_memory_equal(p, blob + HDR + k * UNIT, UNIT);
		src.release(hold);
	}
	eml_agent_blob_ctx_clear(&ctx);
	(void)shutdown(sv[0], SHUT_RDWR);
	assert_int_equal(pthread_join(t, NULL), 0);
	(void)close(sv[0]);
	(void)close(sv[1]);
	eml_agent_link_clear(&l);
	eml_free(blob);
}

static void
four_chunks_per_range_from_the_proxy(void **state)
{
	struct host h;

	(void)state;
	fetch_all(EML_STORE_RANGE_MAX, &h);
	assert_int_equal(h.refused, 0);
	assert_int_equal(h.served, NCHUNK / 4);
	assert_int_equal(h.largest, 4 * UNIT);
}

static void
three_chunks_per_range_from_an_older_host(void **state)
{
	struct host h;

	(void)state;
	fetch_all((size_t)4 << 20, &h);
	assert_int_equal(h.refused, 1); /* the first range, once */
	assert_int_equal(h.served, (NCHUNK + 2) / 3);
	assert_int_equal(h.largest, 3 * UNIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(four_chunks_per_range_from_the_proxy),
		cmocka_unit_test(three_chunks_per_range_from_an_older_host),
	};

	assert_eml_ok(eml_mem_init());
	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Secure channel figures (docs/PROTOCOL.md §4): throughput of seal + open
 * of 1 MiB messages (AES-256-GCM, one core), the same with 64 KiB
 * and 1 KiB messages, and the cost of a full handshake: both key pairs,
 * both X25519 agreements, transcript hash and key derivation, on both
 * sides (the attestation document itself is a stand-in here; its
 * production and verification are measured by the attestation bench).
 * Figures only, no thresholds.
 *
 *   build-x/bench/bench_channel [seconds-per-figure]   (default 1.0)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eml_buf.h"
#include "eml_channel.h"
#include "eml_envelope.h"
#include "eml_mem.h"
#include "eml_test.h"

static const uint8_t DOC[4500]; /* about the size of a Nitro document */

/* CPU seconds of this process: on a shared machine the wall clock also
 * counts time other processes ran, CPU time does not. */
static double
cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
handshake(struct eml_channel **c, struct eml_channel **s)
{
	struct eml_buf hello, resp;
	uint8_t nonce[32], pk[32];
	int ok;

	eml_buf_init(&hello, 1024);
	eml_buf_init(&resp, 65536);
	ok = eml_channel_client_new(c, &hello) == EML_OK &&
	    eml_channel_server_new(s, hello.data, hello.len, nonce, pk) == EML_OK &&
	    eml_channel_server_finish(*s, DOC, sizeof(DOC), &resp) == EML_OK &&
	    eml_channel_client_finish(*c, resp.data, resp.len, pk) == EML_OK;
	eml_buf_free(&hello);
	eml_buf_free(&resp);
	return ok;
}

static int
throughput(size_t msg, double secs)
{
	struct eml_channel *c = NULL, *s = NULL;
	struct eml_envelope e;
	struct eml_buf ct, pt;
	uint8_t *m = eml_alloc(msg);
	uint64_t st = 1;
	double t0, c0, el;
	size_t iters = 0;
	int ok = 1;

	if (m == NULL || !handshake(&c, &s))
		return 0;
	eml_test_fill(&st, m, msg);
	memset(&e, 0, sizeof(e));
	e.version = EML_PROTO_VERSION;
	e.type = EML_MSG_INFER_REQUEST;
	eml_buf_init(&ct, msg + 64);
	eml_buf_init_secure(&pt, msg + 64);
	t0 = eml_test_now();
	c0 = cpu_now();
	do {
		for (int k = 0; k < 8 && ok; k++) {
			/* Ciphertext is not secret: reuse without wiping. The
			 * plaintext buffer is wiped, as real receivers do. */
			ct.len = 0;
			eml_buf_reset(&pt);
			ok = eml_channel_seal(c, &e, m, msg, &ct) == EML_OK;
			e.body = ct.data;
			e.body_len = ct.len;
			ok = ok && eml_channel_open(s, &e, &pt) == EML_OK && pt.len == msg;
			iters++;
		}
		el = eml_test_now() - t0;
	} while (ok && el < secs);
	if (ok)
		printf("channel seal+open %8zu B messages: %8.1f MB/s wall, %8.1f MB/s per CPU "
		       "second  (%zu round trips in %.2f s; MB = 1e6 plaintext bytes, each sealed "
		       "and opened once, one thread)\n",
		    msg, (double)msg * (double)iters / el / 1e6,
		    (double)msg * (double)iters / (cpu_now() - c0) / 1e6, iters, el);
	else
		printf("channel seal+open %zu B: FAILED\n", msg);
	eml_buf_free_nowipe(&ct);
	eml_buf_free(&pt);
	eml_free(m);
	eml_channel_free(c);
	eml_channel_free(s);
	return ok;
}

static int
handshake_cost(double secs)
{
	double t0 = eml_test_now(), c0 = cpu_now(), el;
	size_t n = 0;

	do {
		struct eml_channel *c = NULL, *s = NULL;

		if (!handshake(&c, &s))
			return 0;
		eml_channel_free(c);
		eml_channel_free(s);
		n++;
		el = eml_test_now() - t0;
	} while (el < secs);
	printf("channel handshake (both sides: 2 key pairs, 2 X25519, transcript hash, HKDF, "
	       "secure alloc/free): %.1f us wall, %.1f us CPU per handshake (%zu in %.2f s)\n",
	    el * 1e6 / (double)n, (cpu_now() - c0) * 1e6 / (double)n, n, el);
	return 1;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	int ok = 1;

	if (secs <= 0)
		secs = 1.0;
	if (eml_mem_init() != EML_OK)
		return 1;
	ok &= throughput((size_t)1 << 20, secs);
	ok &= throughput((size_t)64 << 10, secs / 2);
	ok &= throughput(1024, secs / 2);
	ok &= handshake_cost(secs);
	return ok ? 0 : 1;
}

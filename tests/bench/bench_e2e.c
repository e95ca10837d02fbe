/*
 * End-to-end figures through a running eml-proxy + eml-agent, driven by
 * scripts/bench-e2e.sh (which starts them). Figures only, no thresholds.
 *
 *   bench_e2e --proxy ADDR --policy FILE --model DIR --input FILE
 *             [--onnx MODEL.onnx] [--n N] [--clients 1,8,32] [--seconds S]
 *             [--relay-mb MB] [--label TEXT] [--handshake 0]
 *
 * - handshake: connect + attest (verify + keys), median of N
 * - infer: one request on a warm session, median of N; with --onnx the same
 *   input through the engine in-process (what eml run --local does after
 *   loading), and the difference = the confidential overhead
 * - rps: requests per second with K clients in parallel (one session each,
 *   attested and warmed by one request before the clock starts)
 * - relay: --relay-mb sends one request with an MB-sized input the agent
 *   refuses by policy after reading and opening it: client seal + proxy
 *   relay + agent open, in MB/s; the first request of a session (the
 *   row's figure) and the lowest of four more on that session (warm)
 *
 * Without arguments (as `make bench` runs every bench binary) it says how
 * to run it and exits 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "attestation/eml_attest_cache.h"
#include "attestation/eml_attest_sim.h"
#include "attestation/eml_evidence.h"
#include "client/owner/onnx_import.h"
#include "client/sdk/eml_sdk_int.h"
#include "eml/eml.h"
#include "eml_mem.h"
#include "eml_test.h"
#include "engine/eml_engine.h"

#include <openssl/evp.h>

struct cfg {
	const char *proxy, *policy, *model, *input, *onnx, *label;
	int n;
	int clients[8];
	int n_clients;
	double seconds;
	long relay_mb;
	int handshake; /* 0: --handshake 0, skip the handshake rows */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
tv_us(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static int
open_session(const struct cfg *c, struct eml_client **out)
{
	int rc;

	if ((rc = eml_client_connect(c->proxy, out)) != 0 ||
	    (rc = eml_client_attest(*out, c->policy)) != 0) {
		fprintf(stderr, "bench_e2e: %s: %s\n", eml_client_strerror(rc),
		    eml_client_detail(*out));
		eml_client_close(*out);
		*out = NULL;
	}
	return rc;
}

/* The simulator's document production alone, in this process: what the
 * agent does per session between reading the hello and answering. */
static double
doc_production_us(int n)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_buf out;
	uint8_t nonce[32] = { 1 }, pk[32] = { 2 }, ud[32] = { 3 };
	double *v = eml_calloc((size_t)n, sizeof(double)), r = -1;

	eml_buf_init(&out, 65536);
	/* as the agent runs it: the next signature's nonce made while idle,
	 * asked for between documents (as the agent asks between sessions;
	 * without the ask the wait timed out and every document here was
	 * signed in full, a second apart) */
	if (v == NULL || eml_attest_sim_open(NULL, NULL, &sim) != EML_OK ||
	    eml_attest_sim_presign(sim) != EML_OK)
		goto out;
	for (int i = 0; i < n; i++) {
		double t0;

		eml_attest_sim_presign_refill(sim);
		(void)eml_attest_sim_presign_wait(sim, 1000);
		t0 = now_ms();
		eml_buf_reset(&out);
		if (eml_attest_sim_attest(sim, 0, ud, sizeof(ud), nonce, sizeof(nonce), pk,
		    sizeof(pk), &out) != EML_OK)
			goto out;
		v[i] = (now_ms() - t0) * 1e3;
	}
	r = median(v, n);
out:
	eml_attest_sim_free(sim);
	eml_buf_free(&out);
	eml_free(v);
	return r;
}

enum { ST_TOTAL, ST_CONNECT, ST_LOCAL, ST_RTT, ST_PARSE, ST_AUTH, ST_SIG, ST_CHAIN, ST_POLICY, ST_KEYS,
	ST_FIRST, ST_N };

static const char *const st_name[ST_N] = {
	"total (connect + attest)", "connect", "policy, root, key pair, hello",
	"hello -> attestation response (round trip)", "CBOR parse",
	"signature || chain (wall, two threads)", "  document signature (ES384)",
	"  certificate chain", "policy checks", "key agreement", "first request (round trip)",
};

static int
bench_handshake(const struct cfg *c, const struct eml_client_model *m,
    const struct eml_client_tensor *in)
{
	double *t[ST_N], cold[ST_N];
	size_t entries = 0;
	uint64_t hits = 0, misses = 0;

	for (int k = 0; k < ST_N; k++)
		t[k] = eml_calloc((size_t)c->n + 1, sizeof(double));
	/* run 0 is the process's first: the intermediate cache is empty */
	for (int i = 0; i <= c->n; i++) {
		struct eml_client *cl = NULL;
		double t0 = now_ms(), t1, v[ST_N];

		if (open_session(c, &cl) != 0)
			return 1;
		t1 = now_ms();
		v[ST_TOTAL] = (t1 - t0) * 1e3;
		v[ST_FIRST] = 0;
		v[ST_CONNECT] = (double)cl->steps.connect_us;
		v[ST_LOCAL] = (double)cl->steps.local_us;
		v[ST_RTT] = (double)cl->steps.rtt_us;
		v[ST_PARSE] = (double)cl->steps.verify.parse_us;
		v[ST_AUTH] = (double)cl->steps.verify.auth_us;
		v[ST_SIG] = (double)cl->steps.verify.sig_us;
		v[ST_CHAIN] = (double)cl->steps.verify.chain_us;
		v[ST_POLICY] = (double)cl->steps.policy_us;
		v[ST_KEYS] = (double)cl->steps.keys_us;
		for (int k = 0; k < ST_N; k++) {
			if (i == 0)
				cold[k] = v[k];
			else
				t[k][i - 1] = v[k];
		}
		eml_client_close(cl);
	}
	/* The first request of a fresh session, apart: in the loop above the
	 * agent would still be tearing the last session down (its arena,
	 * its model) while the next handshake is timed. */
	for (int i = 0; i <= c->n; i++) {
		struct eml_client *cl = NULL;
		struct eml_client_tensor *outs = NULL;
		size_t n_outs = 0;
		double t1;

		if (open_session(c, &cl) != 0)
			return 1;
		t1 = now_ms();
		if (eml_client_infer(cl, m, in, 1, &outs, &n_outs) != 0)
			return 1;
		eml_client_tensors_free(outs, n_outs);
		if (i == 0)
			cold[ST_FIRST] = (now_ms() - t1) * 1e3;
		else
			t[ST_FIRST][i - 1] = (now_ms() - t1) * 1e3;
		eml_client_close(cl);
	}
	eml_attest_cache_stats(eml_sdk_attest_cache(), &entries, &hits, &misses);
	printf("e2e %s handshake_ms median=%.3f (connect + attestation document + verify + keys, "
	       "n=%d; intermediate cache %s: %zu entries, %llu hits, %llu misses)\n",
	    c->label, median(t[ST_TOTAL], c->n) / 1e3, c->n,
	    eml_sdk_attest_cache() != NULL ? "on" : "off (EML_ATTEST_CACHE=0)", entries,
	    (unsigned long long)hits, (unsigned long long)misses);
	printf("e2e %s handshake steps (us; first = the process's first handshake, cache empty):\n",
	    c->label);
	printf("  %-44s %10s %10s %10s\n", "step", "median", "first", "min");
	for (int k = 0; k < ST_N; k++) {
		double med = median(t[k], c->n); /* sorts */

		printf("  %-44s %10.1f %10.1f %10.1f\n", st_name[k], med, cold[k], t[k][0]);
		if (k == ST_RTT)
			printf("  %-44s %10.1f %10s\n", "  of which: document production (sim, here)",
			    doc_production_us(c->n), "");
		eml_free(t[k]);
	}
	return 0;
}

static double
local_ms(const struct cfg *c, const struct eml_client_tensor *in)
{
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;
	struct eml_plan *p = NULL;
	struct eml_plan_opts o = { .nthreads = 1 };
	struct eml_tensor t;
	double *v = eml_calloc((size_t)c->n, sizeof(double)), r = -1;

	memset(&t, 0, sizeof(t));
	t.name = (char *)(uintptr_t)in->name;
	t.dtype = (enum eml_dtype)in->dtype;
	t.rank = (int)in->rank;
	for (size_t d = 0; d < in->rank; d++)
		t.dims[d] = (int64_t)in->dims[d];
	t.data = (void *)(uintptr_t)in->data;
	t.nbytes = in->nbytes;
	if (eml_onnx_import_file(c->onnx, &g) != EML_OK || eml_model_new(g, &m) != EML_OK ||
	    eml_plan_new(m, &t, 1, &o, &p) != EML_OK)
		goto out;
	for (int i = 0; i < c->n; i++) {
		double t0 = now_ms();

		if (eml_plan_run(p, &t, 1) != EML_OK)
			goto out;
		v[i] = now_ms() - t0;
	}
	r = median(v, c->n);
out:
	eml_plan_free(p);
	eml_model_free(m);
	eml_free(v);
	return r;
}

static int
bench_infer(const struct cfg *c, const struct eml_client_model *m,
    const struct eml_client_tensor *in)
{
	struct eml_client *cl = NULL;
	double *t = eml_calloc((size_t)c->n, sizeof(double)), med, loc;
	struct rusage ru0, ru1;

	if (open_session(c, &cl) != 0)
		return 1;
	getrusage(RUSAGE_SELF, &ru0);
	for (int i = 0; i < c->n; i++) {
		struct eml_client_tensor *outs = NULL;
		size_t n_outs = 0;
		double t0 = now_ms();
		int rc = eml_client_infer(cl, m, in, 1, &outs, &n_outs);

		t[i] = now_ms() - t0;
		eml_client_tensors_free(outs, n_outs);
		if (rc != 0) {
			fprintf(stderr, "bench_e2e: infer: %s: %s\n", eml_client_strerror(rc),
			    eml_client_detail(cl));
			return 1;
		}
	}
	getrusage(RUSAGE_SELF, &ru1);
	eml_client_close(cl);
	med = median(t, c->n); /* sorts */
	printf("e2e %s infer_ms median=%.3f (one request on a warm session, n=%d; min=%.3f "
	       "p10=%.3f, client CPU %.0f us/request)\n", c->label, med, c->n, t[0], t[c->n / 10],
	    (tv_us(&ru1.ru_utime) + tv_us(&ru1.ru_stime) - tv_us(&ru0.ru_utime) -
		tv_us(&ru0.ru_stime)) / c->n);
	if (c->onnx != NULL && (loc = local_ms(c, in)) >= 0)
		printf("e2e %s local_run_ms median=%.3f overhead_ms=%.3f (eml infer over the engine "
		       "alone, 1 thread)\n", c->label, loc, med - loc);
	eml_free(t);
	return 0;
}

struct worker {
	const struct cfg *c;
	const struct eml_client_model *m;
	const struct eml_client_tensor *in;
	pthread_barrier_t *ready;
	double *start; /* set by the last thread through the barrier */
	long done;
	int failed;
};

static void *
work(void *p)
{
	struct worker *w = p;
	struct eml_client *cl = NULL;

	/* Every client attests and sends one request first (a warm session:
	 * with per-session assembly that first request assembles the model);
	 * the clock starts when all have, so the figure is requests on warm
	 * sessions, not handshakes or assemblies. */
	if (open_session(w->c, &cl) != 0) {
		w->failed = 1;
	} else {
		struct eml_client_tensor *outs = NULL;
		size_t n_outs = 0;

		if (eml_client_infer(cl, w->m, w->in, 1, &outs, &n_outs) != 0)
			w->failed = 1;
		eml_client_tensors_free(outs, n_outs);
	}
	if (pthread_barrier_wait(w->ready) == PTHREAD_BARRIER_SERIAL_THREAD)
		*w->start = now_ms();
	pthread_barrier_wait(w->ready);
	if (w->failed)
		return NULL;
	while (now_ms() < *w->start + w->c->seconds * 1e3) {
		struct eml_client_tensor *outs = NULL;
		size_t n_outs = 0;

		if (eml_client_infer(cl, w->m, w->in, 1, &outs, &n_outs) != 0) {
			w->failed = 1;
			break;
		}
		eml_client_tensors_free(outs, n_outs);
		w->done++;
	}
	eml_client_close(cl);
	return NULL;
}

static int
bench_rps(const struct cfg *c, const struct eml_client_model *m,
    const struct eml_client_tensor *in, int k)
{
	pthread_t th[64];
	struct worker w[64];
	long total = 0;
	int failed = 0;
	double start = 0, secs;
	pthread_barrier_t ready;

	pthread_barrier_init(&ready, NULL, (unsigned)k);
	for (int i = 0; i < k; i++) {
		w[i] = (struct worker){ c, m, in, &ready, &start, 0, 0 };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < k; i++) {
		pthread_join(th[i], NULL);
		total += w[i].done;
		failed += w[i].failed;
	}
	secs = (now_ms() - start) / 1e3;
	pthread_barrier_destroy(&ready);
	printf("e2e %s rps clients=%d requests=%ld rps=%.1f failed_clients=%d\n", c->label, k,
	    total, (double)total / secs, failed);
	return failed != 0;
}


/*
 * The relay's CPU ceiling, measured in the same run: what the bytes of one
 * request cost whatever the transport does, on one core.
 * - crypto: the client's seal (AES-256-GCM, as libeml's channel: OpenSSL
 *   EVP) and evidence hash of the ciphertext (eml_evidence_exchange_*,
 *   SHA-256), the agent's hash and open of the same, in 256 KiB pieces
 *   as both sides work (from the caller's tensor into a piece buffer, then
 *   in place): the four passes no transport change removes.
 * - hop: the bytes written into and read out of a unix socket pair, 128
 *   KiB at a time (one kernel copy in, one out, the syscalls): the relay
 *   has two such hops (client -> proxy, proxy -> agent) at best.
 * Bounds on this machine's 2 cores (the three processes' work spread
 * perfectly over both): bytes / (crypto / 2), bytes / ((crypto + 2 hops) / 2).
 * Lowest of three. Figures only.
 */
#define CEIL_PIECE ((size_t)256 << 10)

static double
ceiling_crypto_ms(const uint8_t *src, size_t n, uint8_t *ct)
{
	static const uint8_t key[32] = { 1 }, iv[12] = { 2 }, h0[32] = { 3 };
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
	struct eml_evidence_x xc, xa;
	uint8_t tag[16], h[32];
	double t0 = now_ms(), ms = -1;
	int l = 0, ok = e != NULL && d != NULL;

	memset(&xc, 0, sizeof(xc));
	memset(&xa, 0, sizeof(xa));
	/* client: seal each piece out of the caller's memory, hash it */
	ok = ok && EVP_EncryptInit_ex(e, EVP_aes_256_gcm(), NULL, key, iv) == 1;
	eml_evidence_exchange_begin_len(&xc, h0, n + 16);
	for (size_t off = 0; ok && off < n; off += CEIL_PIECE) {
		size_t k = n - off < CEIL_PIECE ? n - off : CEIL_PIECE;

		ok = EVP_EncryptUpdate(e, ct + off, &l, src + off, (int)k) == 1 &&
		    eml_evidence_exchange_update(&xc, ct + off, k) == 0;
	}
	ok = ok && EVP_EncryptFinal_ex(e, tag, &l) == 1 &&
	    EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
	eml_evidence_exchange_end(&xc, h, NULL, 0);
	/* agent: hash each piece, open it in place, check the tag */
	ok = ok && EVP_DecryptInit_ex(d, EVP_aes_256_gcm(), NULL, key, iv) == 1;
	eml_evidence_exchange_begin_len(&xa, h0, n + 16);
	for (size_t off = 0; ok && off < n; off += CEIL_PIECE) {
		size_t k = n - off < CEIL_PIECE ? n - off : CEIL_PIECE;

		ok = eml_evidence_exchange_update(&xa, ct + off, k) == 0 &&
		    EVP_DecryptUpdate(d, ct + off, &l, ct + off, (int)k) == 1;
	}
	ok = ok && EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
	    EVP_DecryptFinal_ex(d, tag, &l) == 1;
	eml_evidence_exchange_end(&xa, h, NULL, 0);
	if (ok)
		ms = now_ms() - t0;
	EVP_CIPHER_CTX_free(e);
	EVP_CIPHER_CTX_free(d);
	return ms;
}

static double
ceiling_hop_ms(const uint8_t *src, size_t n, uint8_t *dst)
{
	const size_t step = (size_t)128 << 10;
	int sv[2], sz = 4 << 20;
	double t0, ms = -1;
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	t0 = now_ms();
	while (off < n) {
		size_t k = n - off < step ? n - off : step, got = 0;
		ssize_t w = write(sv[0], src + off, k);

		if (w <= 0)
			break;
		while (got < (size_t)w) {
			ssize_t r = read(sv[1], dst + off + got, (size_t)w - got);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got != (size_t)w)
			break;
		off += got;
	}
	if (off == n)
		ms = now_ms() - t0;
	close(sv[0]);
	close(sv[1]);
	return ms;
}

static void
print_ceiling(const uint8_t *src, size_t n)
{
	uint8_t *ct = eml_alloc(n);
	double c = -1, h = -1, mb = (double)n / (1 << 20);

	if (ct == NULL)
		return;
	memset(ct, 0, n); /* faulted in, as the peers' kept buffers are */
	for (int i = 0; i < 3; i++) {
		double x = ceiling_crypto_ms(src, n, ct), y = ceiling_hop_ms(src, n, ct);

		if (x > 0 && (c < 0 || x < c))
			c = x;
		if (y > 0 && (h < 0 || y < h))
			h = y;
	}
	eml_free(ct);
	if (c <= 0 || h <= 0)
		return;
	printf("e2e relay_ceiling crypto_1core_ms=%.1f hop_1core_ms=%.1f (seal+hash client, "
	       "hash+open agent; one unix-socket hop, in-process, this run)\n", c, h);
	printf("e2e relay_ceiling_MBps=%.1f (2 cores, crypto + 2 hops) crypto_only_MBps=%.1f "
	       "(2 cores, crypto alone)\n", mb / ((c + 2 * h) / 2 / 1e3), mb / (c / 2 / 1e3));
}

static double
cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int
bench_relay(const struct cfg *c, const struct eml_client_model *m)
{
	struct eml_client *cl = NULL;
	struct eml_client_tensor t, *outs = NULL;
	size_t n_outs = 0, bytes = (size_t)c->relay_mb << 20;
	float *buf = NULL;
	uint64_t seed = 1;
	double t0, ms = 0, warm = 0, cpu[5] = { 0 }, each[5] = { 0 };
	int rc = 0, done = 0;

	buf = eml_alloc(bytes);
	if (buf == NULL)
		return 1;
	eml_test_fill(&seed, buf, bytes);
	memset(&t, 0, sizeof(t));
	t.name = "x";
	t.dtype = EML_CLIENT_DT_FLOAT;
	t.rank = 1;
	t.dims[0] = bytes / 4;
	t.data = buf;
	t.nbytes = bytes;
	if (open_session(c, &cl) != 0)
		return 1;
	/* The first request of the session (the row's figure, as before),
	 * then up to 4 more on the same session: the lowest of those is the
	 * warm figure (buffers the agent keeps per session already mapped). */
	for (int i = 0; i < 5; i++) {
		double one, c0 = cpu_ms();

		t0 = now_ms();
		rc = eml_client_infer(cl, m, &t, 1, &outs, &n_outs);
		one = now_ms() - t0;
		each[i] = one;
		cpu[i] = cpu_ms() - c0;
		done = i + 1;
		eml_client_tensors_free(outs, n_outs);
		outs = NULL;
		n_outs = 0;
		if (rc != (int)EML_ERR_POLICY_SIZE)
			break;
		if (i == 0)
			ms = one;
		else if (i == 1 || one < warm)
			warm = one;
	}
	eml_client_close(cl);
	if (rc != (int)EML_ERR_POLICY_SIZE) {
		eml_free(buf);
		fprintf(stderr, "bench_e2e: relay: expected a policy size refusal, got %s\n",
		    eml_client_strerror(rc));
		return 1;
	}
	printf("e2e relay_MBps=%.1f (%ld MiB request sealed, relayed by eml-proxy, opened by "
	       "eml-agent, in %.1f ms; first request of the session)\n",
	    (double)c->relay_mb / (ms / 1e3), c->relay_mb, ms);
	printf("e2e relay_warm_MBps=%.1f (the same request again on that session, lowest of 4: "
	       "%.1f ms)\n", (double)c->relay_mb / (warm / 1e3), warm);
	/* the client's own CPU per request (user + system) */
	for (int i = 2; i < done; i++)
		if (cpu[i] < cpu[1])
			cpu[1] = cpu[i];
	printf("e2e relay_client_cpu first_ms=%.1f warm_min_ms=%.1f\n", cpu[0], cpu[1]);
	/* every request's wall time: the first is one sample, warm the lowest
	 * of four, so on a loaded machine part of their gap is that alone */
	printf("e2e relay_each_ms=%.1f,%.1f,%.1f,%.1f,%.1f\n", each[0], each[1], each[2], each[3],
	    each[4]);
	print_ceiling((const uint8_t *)buf, bytes);
	eml_free(buf);
	return 0;
}

static int
parse(int argc, char **argv, struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->n = 20;
	c->seconds = 3;
	c->label = "model";
	c->handshake = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];

		if (strcmp(o, "--proxy") == 0)
			c->proxy = v;
		else if (strcmp(o, "--policy") == 0)
			c->policy = v;
		else if (strcmp(o, "--model") == 0)
			c->model = v;
		else if (strcmp(o, "--input") == 0)
			c->input = v;
		else if (strcmp(o, "--onnx") == 0)
			c->onnx = v;
		else if (strcmp(o, "--label") == 0)
			c->label = v;
		else if (strcmp(o, "--n") == 0)
			c->n = atoi(v) > 0 ? atoi(v) : 1;
		else if (strcmp(o, "--seconds") == 0)
			c->seconds = atof(v);
		else if (strcmp(o, "--handshake") == 0)
			c->handshake = atoi(v);
		else if (strcmp(o, "--relay-mb") == 0)
			c->relay_mb = atol(v);
		else if (strcmp(o, "--clients") == 0) {
			char *dup = eml_strdup(v), *save = NULL;

			for (char *tok = strtok_r(dup, ",", &save); tok != NULL && c->n_clients < 8;
			     tok = strtok_r(NULL, ",", &save))
				c->clients[c->n_clients++] = atoi(tok) > 64 ? 64 : atoi(tok);
			eml_free(dup);
		} else
			return -1;
	}
	return c->proxy != NULL && c->policy != NULL && c->model != NULL ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct cfg c;
	struct eml_client_model *m = NULL;
	struct eml_client_tensor *in = NULL;
	int status = 0;

	if (argc == 1) {
		printf("SKIP: bench_e2e needs a running proxy and agent; scripts/bench-e2e.sh runs it\n");
		return 0;
	}
	if (eml_mem_init() != EML_OK || parse(argc, argv, &c) != 0) {
		fprintf(stderr, "usage: bench_e2e --proxy ADDR --policy FILE --model DIR --input FILE "
				"[--onnx F] [--n N] [--clients 1,8,32] [--seconds S] [--relay-mb MB] "
				"[--handshake 0]\n");
		return 2;
	}
	if (eml_client_model_open(c.model, &m) != 0) {
		fprintf(stderr, "bench_e2e: model: %s\n", eml_client_detail(NULL));
		return 1;
	}
	if (c.relay_mb > 0) {
		status = bench_relay(&c, m);
		eml_client_model_close(m);
		return status;
	}
	if (c.input == NULL || eml_client_tensor_load(c.input, &in) != 0) {
		fprintf(stderr, "bench_e2e: input: %s\n", eml_client_detail(NULL));
		return 1;
	}
	if (c.handshake)
		status |= bench_handshake(&c, m, in);
	status |= bench_infer(&c, m, in);
	for (int i = 0; i < c.n_clients; i++)
		status |= bench_rps(&c, m, in, c.clients[i]);
	eml_client_tensors_free(in, 1);
	eml_client_model_close(m);
	return status;
}

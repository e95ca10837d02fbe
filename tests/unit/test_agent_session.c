/*
 * eml-agent sessions and the libeml handshake, in one process: the agent
 * serves on a Unix socket from a thread (simulated NSM on a CA made for
 * the test), libeml connects to it directly (no proxy).
 *
 * Covers: a good handshake and its summary; refusal on a wrong PCR, a
 * wrong policy digest and a foreign root, after which the handle cannot
 * send anything; the BUSY bound; an unpermitted first message; a request
 * the agent refuses (bad topology key) leaving the session usable.
 */
#include "eml_test.h"
#include "eml_test_sim.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attestation/eml_attest_sim.h"
#include "eml/eml.h"
#include "enclave-agent/eml_agent.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_transport.h"

struct fixture {
	char dir[64];
	char ca[128];
	char sock[128];
	char addr[160];
	struct eml_agent *agent;
	pthread_t thread;
	volatile sig_atomic_t stop;
	char pcr_hex[3][97];
	char digest_hex[65];
};

static void *
serve(void *p)
{
	struct fixture *f = p;

	if (eml_agent_serve(f->agent, &f->stop) != EML_OK)
		fprintf(stderr, "agent serve failed\n");
	return NULL;
}

static int
start(struct fixture *f, unsigned max_sessions)
{
	struct eml_agent_config cfg;

	memset(f, 0, sizeof(*f));
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/eml-sess-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->ca, sizeof(f->ca), "%s/sim", f->dir);
	if (eml_attest_sim_ca_create(f->ca) != EML_OK)
		return -1;
	(void)snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->dir);
	(void)snprintf(f->addr, sizeof(f->addr), "unix:%s", f->sock);
	eml_agent_config_defaults(&cfg);
	cfg.producer = EML_AGENT_ATTEST_SIM;
	cfg.sim_dir = f->ca;
	cfg.max_sessions = max_sessions;
	cfg.idle_timeout_ms = 5000;
	if (eml_addr_parse(f->addr, &cfg.listen) != EML_OK ||
	    eml_manifest_load(NULL, &cfg.policy) != EML_OK ||
	    eml_agent_new(&cfg, &f->agent) != EML_OK)
		return -1;
	for (int i = 0; i < 3; i++)
		eml_test_sim_pcr_hex(i, f->pcr_hex[i]);
	for (size_t i = 0; i < 32; i++)
		(void)snprintf(f->digest_hex + 2 * i, 3, "%02x", cfg.policy.digest[i]);
	return pthread_create(&f->thread, NULL, serve, f) == 0 ? 0 : -1;
}

static void
stop(struct fixture *f)
{
	char cmd[160];

	f->stop = 1;
	pthread_join(f->thread, NULL);
	eml_agent_free(f->agent);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void
write_policy(const struct fixture *f, const char *name, const char *pcr0, const char *digest,
    const char *root)
{
	char path[160];
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp,
	    "{\"version\":1,\"trust_root\":\"%s\",\"pcrs\":{\"0\":\"%s\",\"1\":\"%s\","
	    "\"2\":\"%s\"},\"policy_digest\":\"%s\",\"max_age_seconds\":300}\n",
	    root, pcr0, f->pcr_hex[1], f->pcr_hex[2], digest);
	fclose(fp);
}

static int
attest(const struct fixture *f, const char *policy, struct eml_client **c)
{
	char path[160];

	(void)snprintf(path, sizeof(path), "%s/%s", f->dir, policy);
	assert_int_equal(eml_client_connect(f->addr, c), 0);
	return eml_client_attest(*c, path);
}

static void
good_handshake_and_summary(void **state)
{
	struct fixture f;
	struct eml_client *c = NULL;
	struct eml_client_summary s;
	char hex[97];

	(void)state;
	assert_int_equal(start(&f, 4), 0);
	write_policy(&f, "good.json", f.pcr_hex[0], f.digest_hex, "sim/root.pem");
	assert_int_equal(attest(&f, "good.json", &c), 0);
	assert_int_equal(eml_client_summary(c, &s), 0);
	assert_true(s.module_id[0] != '\0');
	assert_string_equal(s.producer, "sim");
	assert_int_equal(s.n_pcrs, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(s.pcrs[i].index, i);
		for (int j = 0; j < 48; j++)
			(void)snprintf(hex + 2 * j, 3, "%02x", s.pcrs[i].value[j]);
		assert_string_equal(hex, f.pcr_hex[i]);
	}
	assert_int_equal(s.policy_digest_len, 32);
	for (int j = 0; j < 32; j++)
		(void)snprintf(hex + 2 * j, 3, "%02x", s.policy_digest[j]);
	assert_string_equal(hex, f.digest_hex);
	/* A second attest on the same handle is a state error. */
	assert_int_equal(eml_client_attest(c, "whatever"), (int)EML_ERR_SESSION_STATE);
	eml_client_close(c);
	stop(&f);
}

/* A model directory whose model.topo is not a topology key. */
static struct eml_client_model *
junk_model(const struct fixture *f)
{
	struct eml_client_model *m = NULL;
	char mdir[160], path[200];
	FILE *fp;

	(void)snprintf(mdir, sizeof(mdir), "%s/model", f->dir);
	(void)mkdir(mdir, 0700);
	(void)snprintf(path, sizeof(path), "%s/model.topo", mdir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not a topology key", fp);
	fclose(fp);
	assert_int_equal(eml_client_model_open(mdir, &m), 0);
	return m;
}

/* After a failed verification the handle is dead: infer is refused
 * locally and nothing is sent. */
static void
assert_no_infer(const struct fixture *f, struct eml_client *c)
{
	struct eml_client_model *m = junk_model(f);
	float x = 1.0f;
	struct eml_client_tensor in;
	struct eml_client_tensor *outs = NULL;
	size_t n = 7;
	struct eml_client_summary s;

	memset(&in, 0, sizeof(in));
	in.name = "x";
	in.dtype = EML_CLIENT_DT_FLOAT;
	in.rank = 1;
	in.dims[0] = 1;
	in.data = &x;
	in.nbytes = 4;
	assert_int_equal(eml_client_infer(c, m, &in, 1, &outs, &n),
	    (int)EML_ERR_SESSION_NOT_ATTESTED);
	assert_null(outs);
	assert_int_equal(n, 0);
	assert_int_equal(eml_client_summary(c, &s), (int)EML_ERR_SESSION_NOT_ATTESTED);
	eml_client_model_close(m);
}

static void
refuses_wrong_pcr_digest_and_root(void **state)
{
	struct fixture f;
	struct eml_client *c = NULL;
	char bad_pcr[97], bad_digest[65];

	(void)state;
	assert_int_equal(start(&f, 4), 0);
	memcpy(bad_pcr, f.pcr_hex[0], sizeof(bad_pcr));
	bad_pcr[10] = bad_pcr[10] == 'a' ? 'b' : 'a';
	memcpy(bad_digest, f.digest_hex, sizeof(bad_digest));
	bad_digest[0] = bad_digest[0] == '0' ? '1' : '0';
	write_policy(&f, "pcr.json", bad_pcr, f.digest_hex, "sim/root.pem");
	write_policy(&f, "digest.json", f.pcr_hex[0], bad_digest, "sim/root.pem");

	assert_int_equal(attest(&f, "pcr.json", &c), (int)EML_ERR_ATTEST_PCR_MISMATCH);
	assert_no_infer(&f, c);
	eml_client_close(c);
	assert_int_equal(attest(&f, "digest.json", &c), (int)EML_ERR_ATTEST_USER_DATA);
	assert_no_infer(&f, c);
	eml_client_close(c);

	/* A root the agent's chain does not end in. */
	{
		char other[160];

		(void)snprintf(other, sizeof(other), "%s/other", f.dir);
		assert_eml_ok(eml_attest_sim_ca_create(other));
		write_policy(&f, "root.json", f.pcr_hex[0], f.digest_hex, "other/root.pem");
		assert_int_equal(eml_err_category((eml_err)attest(&f, "root.json", &c)), 300);
		assert_no_infer(&f, c);
		eml_client_close(c);
	}
	stop(&f);
}

static void
busy_past_the_bound(void **state)
{
	struct fixture f;
	struct eml_client *a = NULL, *b = NULL, *c = NULL;

	(void)state;
	assert_int_equal(start(&f, 1), 0);
	write_policy(&f, "good.json", f.pcr_hex[0], f.digest_hex, "sim/root.pem");
	assert_int_equal(attest(&f, "good.json", &a), 0);
	assert_int_equal(attest(&f, "good.json", &b), (int)EML_ERR_BUSY);
	eml_client_close(b);
	eml_client_close(a);
	/* The slot frees once the first session ends. */
	for (int i = 0; i < 50; i++) {
		int rc = attest(&f, "good.json", &c);

		if (rc == 0)
			break;
		assert_int_equal(rc, (int)EML_ERR_BUSY);
		eml_client_close(c);
		c = NULL;
		usleep(20000);
	}
	assert_non_null(c);
	eml_client_close(c);
	stop(&f);
}

/* A sealed type before the hello: Error frame with EML_ERR_SESSION_STATE,
 * then the agent closes. */
static void
unpermitted_first_message(void **state)
{
	struct fixture f;
	struct eml_addr a;
	struct eml_envelope env, got;
	struct eml_buf b, rx;
	uint8_t body[32] = { 0 };
	int fd = -1;
	ProtobufCMessage *m = NULL;

	(void)state;
	assert_int_equal(start(&f, 4), 0);
	assert_eml_ok(eml_addr_parse(f.addr, &a));
	assert_eml_ok(eml_transport_connect(&a, eml_deadline_in_ms(2000), &fd));
	memset(&env, 0, sizeof(env));
	memset(&got, 0, sizeof(got));
	env.version = 1;
	env.type = EML_MSG_INFER_REQUEST;
	env.body = body;
	env.body_len = sizeof(body);
	eml_buf_init(&b, 4096);
	eml_buf_init(&rx, 4096);
	assert_eml_ok(eml_envelope_pack(&env, 1 << 20, &b));
	assert_eml_ok(eml_frame_write(fd, b.data, b.len, 1 << 20, eml_deadline_in_ms(2000)));
	assert_eml_ok(eml_frame_read(fd, 4096, eml_deadline_in_ms(2000), &rx));
	assert_eml_ok(eml_envelope_unpack(&got, rx.data, rx.len, 4096));
	assert_int_equal(got.type, EML_MSG_ERROR);
	assert_eml_ok(eml_msg_unpack(&eml__v1__error__descriptor, got.body, got.body_len, 4096, &m));
	assert_int_equal(((Eml__V1__Error *)m)->code, EML_ERR_SESSION_STATE);
	eml_msg_free(m);
	eml_envelope_clear(&got);
	/* Then EOF. */
	assert_eml(eml_frame_read(fd, 4096, eml_deadline_in_ms(2000), &rx), EML_ERR_IO_EOF);
	close(fd);
	eml_buf_free(&b);
	eml_buf_free(&rx);
	stop(&f);
}

/* A topology key that is not one: the agent refuses that request with a
 * model code, and the session goes on. */
static void
refused_request_keeps_session(void **state)
{
	struct fixture f;
	struct eml_client *c = NULL;
	struct eml_client_model *m = NULL;
	struct eml_client_tensor in, *outs = NULL;
	float x[4] = { 1, 2, 3, 4 };
	size_t n = 0;

	(void)state;
	assert_int_equal(start(&f, 4), 0);
	write_policy(&f, "good.json", f.pcr_hex[0], f.digest_hex, "sim/root.pem");
	m = junk_model(&f);
	memset(&in, 0, sizeof(in));
	in.name = "x";
	in.dtype = EML_CLIENT_DT_FLOAT;
	in.rank = 2;
	in.dims[0] = 2;
	in.dims[1] = 2;
	in.data = x;
	in.nbytes = sizeof(x);
	assert_int_equal(attest(&f, "good.json", &c), 0);
	for (int i = 0; i < 2; i++) {
		int rc = eml_client_infer(c, m, &in, 1, &outs, &n);

		assert_int_equal(eml_err_category((eml_err)rc), 600);
		assert_null(outs);
	}
	/* Inconsistent input: refused locally, session intact. */
	in.nbytes = 12;
	assert_int_equal(eml_client_infer(c, m, &in, 1, &outs, &n), (int)EML_ERR_USAGE);
	eml_client_close(c);
	eml_client_model_close(m);
	stop(&f);
}

/* Sessions one after the other run on the thread that served the last
 * one (handed over while it waits, idle), not on a thread created for
 * each; every handshake still completes; the agent stops with a thread
 * waiting. */
static void
sessions_reuse_idle_thread(void **state)
{
	struct fixture f;
	struct eml_client *c = NULL;
	uint64_t started = 0, reused = 0;
	unsigned idle = 0;

	(void)state;
	assert_int_equal(start(&f, 4), 0);
	write_policy(&f, "good.json", f.pcr_hex[0], f.digest_hex, "sim/root.pem");
	for (int i = 0; i < 4; i++) {
		/* the last session's thread is waiting before the next comes */
		for (int w = 0; i > 0 && w < 500; w++) {
			eml_agent_thread_stats(f.agent, NULL, NULL, &idle);
			if (idle == 1)
				break;
			(void)usleep(10000);
		}
		assert_int_equal(attest(&f, "good.json", &c), 0);
		eml_client_close(c);
	}
	eml_agent_thread_stats(f.agent, &started, &reused, NULL);
	assert_int_equal(started, 1);
	assert_int_equal(reused, 3);
	stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_handshake_and_summary),
		cmocka_unit_test(refuses_wrong_pcr_digest_and_root),
		cmocka_unit_test(busy_past_the_bound),
		cmocka_unit_test(unpermitted_first_message),
		cmocka_unit_test(refused_request_keeps_session),
		cmocka_unit_test(sessions_reuse_idle_thread),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

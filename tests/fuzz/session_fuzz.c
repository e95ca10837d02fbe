/* Target: the agent's session state machine (enclave-agent/
 * eml_agent_session.c) after a real handshake: a real eml_agent (sim
 * attestation) serves one session on a socketpair from a thread; this side
 * does the client handshake with eml_channel, then sends what the input
 * says and closes its write side. The input is a list of records
 *   u8 kind | u8 type | u16 length (big-endian) | length bytes
 * kind % 3: 0 the bytes sealed under the session keys as a message of that
 * type, 1 a plain envelope of that type with the bytes as its body, 2 the
 * bytes written raw to the connection.
 * Invariants: no crash, leak, hang or over-read in the agent for any
 * sequence; the session ends once our side is closed. Seeds:
 * tests/fuzz/corpus/session/ (an InferRequest with a real topology key,
 * Ping, Close, tampered and out-of-order frames). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_sim.h"
#include "eml_buf.h"
#include "eml_channel.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "enclave-agent/eml_agent.h"
#include "tests/fuzz/eml_fuzz.h"

#define FZ_FRAME_MAX ((size_t)1 << 20)

static struct eml_agent *agent;
static char dir[64] = "/tmp/eml-sessfuzz-XXXXXX";
static char ca[128], addr[160];

static void
cleanup(void)
{
	char path[256];
	static const char *const files[] = { "sim/root.pem", "sim/root.key", "agent.sock" };

	eml_agent_free(agent);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(ca);
	(void)rmdir(dir);
}

/* Once, before the first input. */
static int
fuzz_setup(void)
{
	struct eml_agent_config cfg;

	if (mkdtemp(dir) == NULL)
		abort();
	(void)snprintf(ca, sizeof(ca), "%s/sim", dir);
	(void)snprintf(addr, sizeof(addr), "unix:%s/agent.sock", dir);
	if (eml_attest_sim_ca_create(ca) != EML_OK)
		abort();
	eml_agent_config_defaults(&cfg);
	cfg.producer = EML_AGENT_ATTEST_SIM;
	cfg.sim_dir = ca;
	cfg.frame_max = FZ_FRAME_MAX;
	cfg.idle_timeout_ms = 2000;
	cfg.host_timeout_ms = 200;
	if (eml_addr_parse(addr, &cfg.listen) != EML_OK ||
	    eml_manifest_load(NULL, &cfg.policy) != EML_OK ||
	    eml_agent_new(&cfg, &agent) != EML_OK)
		abort();
	(void)atexit(cleanup);
	return 0;
}

struct served {
	int fd;
};

static void *
serve(void *p)
{
	struct served *s = p;

	(void)eml_agent_session(agent, s->fd); /* closes fd */
	return NULL;
}

static int
send_env(int fd, uint32_t type, const uint8_t *rid, const uint8_t *body, size_t n)
{
	struct eml_envelope env;
	struct eml_buf b;
	int rc;

	memset(&env, 0, sizeof(env));
	env.version = EML_PROTO_VERSION;
	env.type = type;
	memcpy(env.request_id, rid, EML_REQUEST_ID_LEN);
	env.body = body;
	env.body_len = n;
	eml_buf_init(&b, FZ_FRAME_MAX);
	rc = eml_envelope_pack(&env, FZ_FRAME_MAX, &b) == EML_OK &&
		eml_frame_write(fd, b.data, b.len, FZ_FRAME_MAX, eml_deadline_in_ms(2000)) == EML_OK ?
	    0 : -1;
	eml_buf_free_nowipe(&b);
	return rc;
}

/* The client's half of the handshake; 0 when the channel is up. */
static int
handshake(int fd, struct eml_channel **ch)
{
	static const uint8_t rid[EML_REQUEST_ID_LEN] = { 1 };
	struct eml_buf hello, rx;
	struct eml_envelope env;
	struct eml_attest_doc *doc = NULL;
	ProtobufCMessage *m = NULL;
	int rc = -1;

	memset(&env, 0, sizeof(env));
	eml_buf_init(&hello, 4096);
	eml_buf_init(&rx, FZ_FRAME_MAX);
	doc = eml_calloc(1, sizeof(*doc));
	if (doc == NULL || eml_channel_client_new(ch, &hello) != EML_OK ||
	    send_env(fd, EML_MSG_CLIENT_HELLO, rid, hello.data, hello.len) != 0 ||
	    eml_frame_read(fd, FZ_FRAME_MAX, eml_deadline_in_ms(5000), &rx) != EML_OK ||
	    eml_envelope_unpack(&env, rx.data, rx.len, FZ_FRAME_MAX) != EML_OK ||
	    env.type != EML_MSG_ATTESTATION_RESPONSE ||
	    eml_msg_unpack(&eml__v1__attestation_response__descriptor, env.body, env.body_len,
		env.body_len, &m) != EML_OK)
		goto out;
	/* The agent's key from its document; the chain is not this target's
	 * business (attdoc_fuzz covers the verifier). */
	if (eml_attest_doc_parse(((Eml__V1__AttestationResponse *)m)->attestation_document.data,
	    ((Eml__V1__AttestationResponse *)m)->attestation_document.len, doc) != EML_OK ||
	    !doc->public_key.present || doc->public_key.len != EML_X25519_KEY_LEN ||
	    eml_channel_client_finish(*ch, env.body, env.body_len, doc->public_key.data) != EML_OK)
		goto out;
	rc = 0;
out:
	eml_msg_free(m);
	eml_envelope_clear(&env);
	eml_free(doc);
	eml_buf_free(&hello);
	eml_buf_free_nowipe(&rx);
	return rc;
}

static void
play(int fd, struct eml_channel *ch, const uint8_t *p, size_t n)
{
	uint8_t rid[EML_REQUEST_ID_LEN] = { 2 };
	struct eml_buf ct;

	eml_buf_init(&ct, FZ_FRAME_MAX);
	while (n >= 4) {
		uint8_t kind = p[0], type = p[1];
		size_t len = (size_t)p[2] << 8 | p[3];
		struct eml_envelope hdr;

		p += 4;
		n -= 4;
		if (len > n)
			len = n;
		rid[15]++;
		switch (kind % 3) {
		case 0:
			memset(&hdr, 0, sizeof(hdr));
			hdr.version = EML_PROTO_VERSION;
			hdr.type = type;
			memcpy(hdr.request_id, rid, sizeof(rid));
			eml_buf_reset(&ct);
			if (eml_channel_seal(ch, &hdr, p, len, &ct) == EML_OK)
				(void)send_env(fd, type, rid, ct.data, ct.len);
			break;
		case 1:
			(void)send_env(fd, type, rid, p, len);
			break;
		default:
			(void)eml_io_write_full(fd, p, len, eml_deadline_in_ms(2000));
			break;
		}
		p += len;
		n -= len;
	}
	eml_buf_free_nowipe(&ct);
}

EML_FUZZ_TARGET(fuzz_setup)
{
	int sv[2];
	struct served s;
	pthread_t th;
	struct eml_channel *ch = NULL;
	struct eml_buf rx;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	s.fd = sv[1];
	if (pthread_create(&th, NULL, serve, &s) != 0)
		abort();
	if (handshake(sv[0], &ch) == 0)
		play(sv[0], ch, data, size);
	(void)shutdown(sv[0], SHUT_WR);
	/* Drain until the agent ends the session. */
	eml_buf_init(&rx, FZ_FRAME_MAX);
	for (;;) {
		eml_buf_reset(&rx);
		if (eml_frame_read(sv[0], FZ_FRAME_MAX, eml_deadline_in_ms(10000), &rx) != EML_OK)
			break;
	}
	eml_buf_free_nowipe(&rx);
	pthread_join(th, NULL);
	eml_channel_free(ch);
	(void)close(sv[0]);
	return 0;
}

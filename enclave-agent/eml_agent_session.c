/*
 * One client session inside the enclave (DESIGN §3 steps 4-7): handshake
 * bound to an attestation document, then sealed inference requests.
 *
 * Messages are dispatched from a table of {type, permitted states, flags,
 * handler} (STYLE §31); a type that is unknown or not permitted in the
 * current state ends the session with an Error frame. CLIENT_HELLO is
 * permitted once (only in the HELLO state, which it leaves).
 *
 * Logs carry ids, sizes, durations, codes and the code location of a
 * failure, never its human detail: details can name nodes of the secret
 * topology, and the agent's logs leave the enclave.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_evidence.h"
#include "eml_agent_egress.h"
#include "eml_agent_evidence.h"
#include "eml_agent_exec.h"
#include "eml_agent_int.h"
#include "eml_agent_link.h"
#include "eml_channel.h"
#include "eml_envelope.h"
#include "eml_fault.h"
#include "eml_io.h"
#include "eml_jobseal.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "model/eml_assemble.h"
#include "engine/eml_engine.h"
#include "model/eml_topo.h"
#include "model/eml_validate.h"

#define EML_AGENT_MAX_IO 64 /* inputs or outputs per request */

enum sess_state {
	ST_HELLO = 1u << 0,
	ST_ESTABLISHED = 1u << 1,
	ST_CLOSED = 1u << 2,
	ST_JOB = 1u << 3,
};

struct sess {
	struct eml_agent *a;
	struct eml_agent_link link;
	struct eml_channel *ch;
	unsigned state;
	bool hello_seen;
	bool slot; /* holds one of the agent's max_sessions */
	struct eml_cid sid; /* the hello's request id: the session's log id */
	uint64_t requests;
	/* The manifest's max_requests_per_minute: a bucket in units of
	 * 1/60000 request, refilled by that many units per millisecond. */
	uint64_t rate_units;
	int64_t rate_last_ms;
	bool rate_started;
	/* Per-session assembly: the model kept between requests, and the
	 * SHA-256 of the topology key it came from. */
	struct eml_assembly *kept;
	struct eml_agent_exec *kept_exec; /* owned by kept (attached) */
	uint8_t kept_topo[32];
	/* and the key's bytes (secure): a request with the same key reuses
	 * the model after a compare, not a SHA-256 of the whole key */
	uint8_t *kept_key;
	size_t kept_key_len;
	struct eml_agent_ev ev; /* what the evidence artifact will say */
	struct eml_buf pt; /* opened plaintext (secure) */
	struct eml_buf ct; /* sealed body to send */
	/* A sealed INFER_REQUEST opened while it arrives (rx_progress): each
	 * piece of ciphertext goes into the exchange hash and is decrypted in
	 * place as soon as it is in the frame buffer; open_request finishes
	 * (the rest, the tag) and nothing decrypted is used before the tag
	 * verifies there. */
	struct {
		bool tried;  /* this frame's head was looked at */
		bool active; /* the channel's open and the hash began */
		eml_err err; /* a step failed: open_request fails with it */
		size_t off;  /* the body's offset in the frame */
		size_t len;  /* the sealed body's length, tag included */
		size_t done; /* ciphertext bytes hashed and decrypted */
		struct eml_evidence_x xh;
	} rx;
	/* the thread blob content ids are hashed on, started at the first
	 * request and kept for the session's next ones (NULL: none) */
	struct eml_blob_worker *hash_worker;
	/* A request's exchange hash (exchange_start): its sealed body, left
	 * in the frame, hashed into xh->md on hash_worker while the request
	 * is served; joined (exchange_join) before xh, the body or the frame
	 * is touched again. */
	struct {
		struct eml_evidence_x *xh;
		const uint8_t *in;
		size_t n;
		int rc; /* eml_evidence_exchange_update's */
		bool armed, posted;
	} xj;
};

typedef eml_err (*sess_handler)(struct sess *s, const struct eml_envelope *env);

struct sess_rule {
	uint32_t type;
	unsigned states;
	sess_handler fn;
};

/* ---------------------------------------------------------------- sealing */

static eml_err
send_sealed(struct sess *s, uint32_t type, const uint8_t *rid, const uint8_t *pt, size_t n)
{
	struct eml_envelope hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.version = EML_PROTO_VERSION;
	hdr.type = type;
	EML_MEMCPY(hdr.request_id, rid, EML_REQUEST_ID_LEN);
	eml_buf_reset(&s->ct);
	EML_GUARD(eml_channel_seal(s->ch, &hdr, pt, n, &s->ct));
	EML_MEMCPY(s->link.rid, rid, EML_REQUEST_ID_LEN);
	return eml_agent_link_send(&s->link, type, s->ct.data, s->ct.len);
}

/* The sealed answer to a refused request: InferResponse.error with the
 * stable code, its table message and the detail. */
static eml_err
send_refusal(struct sess *s, const uint8_t *rid, eml_err code)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__InferResponse r = EML__V1__INFER_RESPONSE__INIT;
	Eml__V1__Error e = EML__V1__ERROR__INIT;
	char m[EML_ERROR_MSG_MAX];
	struct eml_buf b;

	(void)snprintf(m, sizeof(m), "%s%s%s", eml_strerror(code),
	    eml_err_detail()[0] != '\0' ? ": " : "", eml_err_detail());
	e.code = (uint32_t)code;
	e.message = m;
	r.error = &e;
	eml_buf_init_secure(&b, 4096);
	if ((rc = eml_msg_pack(&r.base, &b)) == EML_OK)
		rc = send_sealed(s, EML_MSG_INFER_RESPONSE, rid, b.data, b.len);
	eml_buf_free(&b);
	sodium_memzero(m, sizeof(m));
	return rc;
}

/* ---------------------------------------------------------------- handlers */

static eml_err
on_hello(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t nonce[EML_HELLO_NONCE_LEN];
	uint8_t pk[EML_X25519_KEY_LEN];
	struct eml_buf doc, resp;
	int64_t t0 = eml_now_us(), ta = 0;

	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	eml_buf_init(&resp, EML_ATTEST_DOC_MAX + 1024);
	s->hello_seen = true;
	EML_MEMCPY(s->sid.b, env->request_id, sizeof(s->sid.b));
	EML_MEMCPY(s->link.rid, env->request_id, EML_REQUEST_ID_LEN);
	/* The session slot is taken here, not at accept: probes never hold
	 * one. Past the bound: BUSY, before any attestation work. */
	if (!eml_agent_session_take(s->a)) {
		eml_err_set_detail("all %u sessions are taken", s->a->cfg.max_sessions);
		EML_FAIL(rc, EML_ERR_BUSY);
	}
	s->slot = true;
	if ((rc = eml_channel_server_new(&s->ch, env->body, env->body_len, nonce, pk)) != EML_OK)
		goto out;
	/* DESIGN §3 step 4: nonce = client nonce, public_key = our ephemeral
	 * key, user_data = digest of the policy we enforce. */
	ta = eml_now_us();
	if ((rc = eml_agent_attest(s->a, nonce, sizeof(nonce), pk, sizeof(pk), &doc)) != EML_OK)
		goto out;
	ta = eml_now_us() - ta;
	if ((rc = eml_channel_server_finish(s->ch, doc.data, doc.len, &resp)) != EML_OK)
		goto out;
	if ((rc = eml_agent_link_send(&s->link, EML_MSG_ATTESTATION_RESPONSE, resp.data,
	    resp.len)) != EML_OK)
		goto out;
	s->state = ST_ESTABLISHED;
	eml_agent_ev_start(s->a, &s->ev);
	EML_LOG_INFO("session.established", &s->sid, EML_F_STR("producer", s->a->producer.name),
	    EML_F_U64("doc_bytes", doc.len), EML_F_I64("ms", (eml_now_us() - t0) / 1000),
	    EML_F_I64("hello_us", eml_now_us() - t0), EML_F_I64("attest_us", ta));
	rc = EML_OK;
out:
	sodium_memzero(nonce, sizeof(nonce));
	eml_buf_free_nowipe(&doc); /* public */
	eml_buf_free_nowipe(&resp);
	return rc;
}

static eml_err
on_ping(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;
	ProtobufCMessage *m = NULL;
	Eml__V1__Pong pong = EML__V1__PONG__INIT;
	struct eml_buf b;

	eml_buf_init(&b, 64);
	if ((rc = eml_msg_unpack(&eml__v1__ping__descriptor, env->body, env->body_len, 64,
	    &m)) != EML_OK)
		goto out;
	pong.seq = ((Eml__V1__Ping *)m)->seq;
	/* protobuf-c wants char *; the string is only read by the packer */
	pong.producer = (char *)(uintptr_t)(s->a->cfg.producer == EML_AGENT_ATTEST_NSM ? "nsm" :
	    "sim");
	if ((rc = eml_msg_pack(&pong.base, &b)) != EML_OK)
		goto out;
	EML_MEMCPY(s->link.rid, env->request_id, EML_REQUEST_ID_LEN);
	rc = eml_agent_link_send(&s->link, EML_MSG_PONG, b.data, b.len);
out:
	eml_msg_free(m);
	eml_buf_free_nowipe(&b);
	return rc;
}

static eml_err
on_close(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;

	eml_buf_reset(&s->pt);
	/* Authenticate the Close before honouring it: an unauthenticated
	 * close from the host is an attack, not a goodbye. */
	if ((rc = eml_channel_open(s->ch, env, &s->pt)) != EML_OK)
		goto out;
	s->state = ST_CLOSED;
	rc = EML_OK;
out:
	eml_buf_reset(&s->pt);
	return rc;
}

/* Views of the request's tensors for the engine, after every rule of
 * docs/PROTOCOL.md for Tensor: a known dtype, rank <= 8, data length equal
 * to the shape's. */
static eml_err
input_views(const Eml__V1__InferRequest *req, const struct eml_cur *data, struct eml_tensor *in,
    uint64_t max_bytes)
{
	uint64_t total = 0;

	EML_ENSURE(req->n_inputs >= 1 && req->n_inputs <= EML_AGENT_MAX_IO, EML_ERR_PROTO_FIELD);
	for (size_t i = 0; i < req->n_inputs; i++) {
		const Eml__V1__Tensor *t = req->inputs[i];
		size_t esz = eml_dtype_size((enum eml_dtype)t->dtype);
		size_t numel = 1, nbytes = 0;

		memset(&in[i], 0, sizeof(in[i]));
		if (esz == 0 || t->n_dims > EML_MAX_RANK || t->name == NULL) {
			eml_err_set_detail("input %zu: bad dtype or rank", i);
			EML_BAIL(EML_ERR_PROTO_FIELD);
		}
		for (size_t d = 0; d < t->n_dims; d++) {
			if (t->dims[d] > (uint64_t)INT64_MAX ||
			    eml_mul_overflow(numel, (size_t)t->dims[d], &numel))
				EML_BAIL(EML_ERR_PROTO_FIELD);
			in[i].dims[d] = (int64_t)t->dims[d];
		}
		/* data: the bytes where they arrived (no copy), else in the message */
		const uint8_t *bytes = data != NULL ? data[i].p : t->data.data;
		size_t blen = data != NULL ? data[i].left : t->data.len;

		if (eml_mul_overflow(numel, esz, &nbytes) || nbytes != blen) {
			eml_err_set_detail("input %zu: data length disagrees with its shape", i);
			EML_BAIL(EML_ERR_PROTO_FIELD);
		}
		total += nbytes;
		if (total > max_bytes) {
			eml_err_set_detail("inputs above the policy limit of %llu bytes",
			    (unsigned long long)max_bytes);
			EML_BAIL(EML_ERR_POLICY_SIZE);
		}
		in[i].name = t->name;
		in[i].dtype = (enum eml_dtype)t->dtype;
		in[i].rank = (int)t->n_dims;
		/* writable memory either way: the link's rx_msg or the message */
		in[i].data = (void *)(uintptr_t)bytes;
		in[i].nbytes = nbytes;
		in[i].owned = false;
	}
	return EML_OK;
}

static eml_err
validate_graph(const struct eml_manifest *pol, const struct eml_topo *t,
    struct eml_node_checks *chk)
{
	const char *ops[EML_MANIFEST_MAX_OPS];
	struct eml_validate_limits lim;

	eml_validate_limits_default(&lim);
	if (t->graph->n_nodes > pol->max_nodes) {
		eml_err_set_detail("%zu nodes above the policy limit of %llu", t->graph->n_nodes,
		    (unsigned long long)pol->max_nodes);
		EML_BAIL(EML_ERR_POLICY_SIZE);
	}
	lim.max_nodes = pol->max_nodes;
	lim.max_tensor_bytes = pol->max_tensor_bytes;
	lim.max_static_bytes = pol->max_arena_bytes + pol->max_weight_bytes;
	lim.weight_bytes = t->blob->plaintext_length;
	/* what the engine's check parses is kept for the model (once per
	 * request in per-request assembly, not twice) */
	lim.check_node_at = eml_engine_check_node_keep;
	lim.check_arg = chk;
	if (pol->n_ops > 0) {
		for (size_t i = 0; i < pol->n_ops; i++)
			ops[i] = pol->ops[i];
		lim.ops = ops;
		lim.n_ops = pol->n_ops;
	}
	return eml_graph_validate(t->graph, &lim);
}

/* Decode the topology key once to learn the blob it needs, prove its
 * graph well formed and check it against the policy before fetching a
 * byte. On success *out is the decoded key, which the assembly takes, and
 * *chk the engine's node checks of its graph (the caller frees them). */
static eml_err
precheck_topology(struct sess *s, const uint8_t *topo, size_t n, struct eml_topo **out,
    struct eml_node_checks **chk)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_topo *t = NULL;
	const struct eml_manifest *pol = &s->a->cfg.policy;

	if (n == 0 || n > pol->max_topology_bytes) {
		eml_err_set_detail("topology key of %zu bytes outside the policy limit", n);
		EML_FAIL(rc, EML_ERR_POLICY_SIZE);
	}
	if ((rc = eml_topo_decode(topo, n, &t)) != EML_OK)
		goto out;
	if (t->blob->plaintext_length > pol->max_weight_bytes) {
		eml_err_set_detail("weights of %llu bytes above the policy limit",
		    (unsigned long long)t->blob->plaintext_length);
		EML_FAIL(rc, EML_ERR_POLICY_SIZE);
	}
	/* The whole graph is proven well formed before a blob byte is
	 * fetched or anything is sized from it. */
	if ((rc = eml_node_checks_new(t->graph, chk)) != EML_OK ||
	    (rc = validate_graph(pol, t, *chk)) != EML_OK)
		goto out;
	/* Allowlist by content id now (a model not pinned may still come in
	 * with a publisher's signature, checked by the assembly before any
	 * allocation); the strict rule is applied after assembly. */
	if (pol->n_models != 0 && pol->trust == NULL &&
	    (rc = eml_manifest_check_model(pol, t->blob->content_id, NULL)) ==
		EML_ERR_POLICY_MODEL)
		goto out;
	*out = t;
	t = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_topo_free(t);
	return rc;
}

/* A sealed frame from the client's side arrived while we waited for the
 * host: try to open it. A replayed or altered frame fails here with
 * EML_ERR_CRYPTO_AUTH and closes the channel. */
static eml_err
on_unexpected(void *arg, const struct eml_envelope *env)
{
	struct sess *s = arg;
	struct eml_buf scratch;
	eml_err rc;

	if (s->ch == NULL) /* a job connection: only blob answers belong here */
		return EML_ERR_SESSION_STATE;
	eml_buf_init_secure(&scratch, s->link.frame_max);
	rc = eml_channel_open(s->ch, env, &scratch);
	eml_buf_free(&scratch);
	return rc;
}

static void
drop_kept(struct sess *s)
{
	eml_assembly_destroy(s->kept); /* frees kept_exec first, wipes all */
	s->kept = NULL;
	s->kept_exec = NULL;
	sodium_memzero(s->kept_topo, sizeof(s->kept_topo));
	eml_secure_free(s->kept_key); /* wipes */
	s->kept_key = NULL;
	s->kept_key_len = 0;
}

/* Assemble the model for this topology key, or reuse the one kept for
 * the session. */
static eml_err
get_model(struct sess *s, const uint8_t *topo, size_t n, const ProtobufCBinaryData *sig,
    struct eml_assembly **am, struct eml_agent_exec **ex, bool *reused)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t digest[32], content_id[32];
	struct eml_topo *t = NULL;
	struct eml_agent_blob_ctx bctx;
	struct eml_blob_source src;
	struct eml_assemble_opts opts;
	struct eml_assembly *m = NULL;
	struct eml_agent_exec *x = NULL;
	struct eml_node_checks *chk = NULL;
	struct eml_graph *g;

	*reused = false;
	/* The client's own key of its previous request against this one:
	 * nothing a third party controls is compared, so a plain memcmp. */
	if (s->kept != NULL && s->kept_key != NULL && n == s->kept_key_len &&
	    memcmp(topo, s->kept_key, n) == 0) {
		*am = s->kept;
		*ex = s->kept_exec;
		*reused = true;
		return EML_OK;
	}
	if ((rc = eml_sha256(topo, n, digest)) != EML_OK)
		return rc;
	if (s->kept != NULL && sodium_memcmp(digest, s->kept_topo, 32) == 0) {
		*am = s->kept;
		*ex = s->kept_exec;
		*reused = true;
		return EML_OK;
	}
	drop_kept(s);
	if ((rc = precheck_topology(s, topo, n, &t, &chk)) != EML_OK)
		goto out;
	if (t == NULL)
		EML_FAIL(rc, EML_ERR_INTERNAL);
	EML_MEMCPY(content_id, t->blob->content_id, 32);
	memset(&bctx, 0, sizeof(bctx));
	bctx.link = &s->link;
	bctx.content_id = content_id;
	bctx.file_size = t->blob->file_size;
	bctx.unexpected = on_unexpected;
	bctx.arg = s;
	eml_agent_blob_source(&src, &bctx);
	memset(&opts, 0, sizeof(opts));
	/* A signature is checked whenever the policy names publishers (and
	 * required when strict); with no publishers there is nothing to
	 * check it against and it is ignored. */
	if (s->a->cfg.policy.trust != NULL) {
		/* a model the policy does not pin needs a valid signature,
		 * verified before anything is allocated for it */
		opts.strict = s->a->cfg.policy.strict ||
		    !eml_manifest_pins(&s->a->cfg.policy, content_id);
		opts.trust = s->a->cfg.policy.trust;
		if (sig->len > 0) {
			opts.sig = sig->data;
			opts.sig_len = sig->len;
		}
	}
	/* Per-request: the content id's hash may finish while the engine
	 * plans; on_infer checks it (eml_assembly_verify) before the run. A
	 * kept model is checked here, before it is kept. */
	opts.defer_id_check = s->a->cfg.policy.assembly != EML_ASSEMBLY_PER_SESSION;
	/* no worker (no thread to be had): each blob starts its own; one
	 * still busy with this request's exchange hash is waited for */
	if (s->hash_worker == NULL && eml_blob_worker_new(&s->hash_worker) != EML_OK)
		eml_err_clear_detail();
	opts.hash_worker = s->hash_worker;
	s->link.blob_requests = 0;
	s->link.blob_bytes = 0;
	/* The host answers blob requests within host_timeout_ms, not the
	 * client's idle allowance. */
	s->link.timeout_ms = s->a->cfg.host_timeout_ms;
	rc = eml_assemble_topo(t, digest, &src, &opts, &m);
	t = NULL; /* taken */
	eml_agent_blob_ctx_clear(&bctx);
	s->link.timeout_ms = s->a->cfg.idle_timeout_ms;
	if (rc != EML_OK)
		goto out;
	if (!opts.defer_id_check && (rc = eml_assembly_verify(m)) != EML_OK)
		goto out;
	if ((rc = eml_manifest_check_model(&s->a->cfg.policy, m->content_id,
	    m->is_signed ? m->signer : NULL)) != EML_OK)
		goto out;
	/* The engine takes the graph; its weight tensors stay views into the
	 * assembled (locked) weights, which the model keeps. */
	g = m->graph;
	m->graph = NULL;
	if ((rc = eml_agent_exec_new(g, chk, s->a->cfg.threads, &x)) != EML_OK)
		goto out;
	eml_agent_exec_set_limits(x, (size_t)s->a->cfg.policy.max_tensor_bytes,
	    (size_t)s->a->cfg.policy.max_arena_bytes);
	eml_agent_exec_set_time_limit(x, s->a->cfg.policy.max_infer_ms);
	eml_assembly_attach_engine(m, x, eml_agent_exec_free);
	EML_LOG_INFO("model.assembled", &s->sid, EML_F_U64("weight_bytes", m->weights_len),
	    EML_F_U64("blob_requests", s->link.blob_requests),
	    EML_F_U64("blob_bytes", s->link.blob_bytes), EML_F_BOOL("signed", m->is_signed));
	if (s->a->cfg.policy.assembly == EML_ASSEMBLY_PER_SESSION) {
		s->kept = m;
		s->kept_exec = x;
		EML_MEMCPY(s->kept_topo, digest, 32);
		/* without room for the copy, reuse goes by the digest */
		if ((s->kept_key = eml_secure_alloc(n)) != NULL) {
			EML_MEMCPY(s->kept_key, topo, n);
			s->kept_key_len = n;
		} else {
			(void)eml_arena_budget_hit(true);
		}
	}
	*am = m;
	*ex = x;
	m = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_node_checks_free(chk);
	eml_topo_free(t);
	eml_assembly_destroy(m);
	return rc;
}

#define RATE_UNIT 60000u /* units per request: a minute in milliseconds */
#define RATE_MAX_PER_MIN (1ULL << 32)

/* Take one request from the session's per-minute bucket; false when it is
 * empty. The bucket starts full (a client may send its whole minute at
 * once) and refills continuously. */
static bool
rate_take(struct sess *s, uint64_t per_min, int64_t now)
{
	uint64_t cap, add;
	int64_t dt;

	if (per_min == 0)
		return true;
	if (per_min > RATE_MAX_PER_MIN)
		per_min = RATE_MAX_PER_MIN; /* beyond any reachable rate; no overflow */
	cap = per_min * RATE_UNIT;
	if (!s->rate_started) {
		s->rate_units = cap;
		s->rate_last_ms = now;
		s->rate_started = true;
	}
	dt = now - s->rate_last_ms;
	if (dt > 0) {
		/* A full minute refills the bucket: clamp so nothing overflows. */
		add = (uint64_t)(dt > (int64_t)RATE_UNIT ? (int64_t)RATE_UNIT : dt) * per_min;
		s->rate_units = add >= cap - s->rate_units ? cap : s->rate_units + add;
		s->rate_last_ms = now;
	}
	if (s->rate_units < RATE_UNIT)
		return false;
	s->rate_units -= RATE_UNIT;
	return true;
}

/* What the manifest says about a response before it is sealed: the fixed
 * output schema was checked on the tensors; here, the whole message. */
static eml_err
check_response(const struct eml_manifest *pol, const struct eml_buf *resp)
{
	if (resp->len > pol->max_response_bytes) {
		eml_err_set_detail("response of %zu bytes above the policy's max_response_bytes %llu",
		    resp->len, (unsigned long long)pol->max_response_bytes);
		EML_BAIL(EML_ERR_EGRESS);
	}
	return EML_OK;
}

/* The InferResponse for a run's outputs: the policy's output checks, the
 * egress guard's encoding, with kept InferResponse.model_kept = true
 * appended (a protobuf message followed by another is their merge), and
 * the response size limit. */
static eml_err
encode_answer(const struct eml_manifest *pol, struct eml_agent_exec *ex,
    const struct eml_tensor *outs, size_t n_outs, bool kept, struct eml_buf *resp)
{
	Eml__V1__InferResponse k = EML__V1__INFER_RESPONSE__INIT;

	EML_GUARD(eml_manifest_check_outputs(pol, outs, n_outs));
	EML_GUARD(eml_egress_encode(eml_agent_exec_graph(ex), outs, n_outs,
	    (size_t)pol->max_output_bytes, resp));
	k.model_kept = 1;
	if (kept)
		EML_GUARD(eml_msg_pack(&k.base, resp));
	return check_response(pol, resp);
}

/* Where one request's time went, in microseconds, for the debug log
 * (issue 16): open = channel open of the request; fetch = waiting for and
 * copying the blob from the host; assemble = the rest of the assembly
 * (authenticate, decrypt, decode, engine model), 0 when the session's
 * model was reused; plan and run = the engine; idwait = waiting for the
 * blob's content id hash after planning (per-request); reply = egress check, seal
 * and send; wipe = destroying what the request assembled. Sizes and
 * durations only. */
static void
log_phases(const struct eml_cid *rid, bool reused, uint64_t weight_bytes, const int64_t t[6],
    uint64_t fetch_us, uint64_t plan_us, uint64_t idwait_us)
{
	/* t: start, opened, model ready, run done, reply sent, wipe start */
	int64_t now = eml_now_us(), asm_us = t[2] - t[1] - (int64_t)fetch_us;
	int64_t run_us = t[3] - t[2] - (int64_t)plan_us - (int64_t)idwait_us;

	EML_LOG_DEBUG("infer.phases", rid, EML_F_BOOL("model_reused", reused),
	    EML_F_U64("weight_bytes", weight_bytes),
	    EML_F_I64("open_us", t[1] - t[0]), EML_F_U64("fetch_us", fetch_us),
	    EML_F_I64("assemble_us", asm_us < 0 ? 0 : asm_us), EML_F_U64("plan_us", plan_us),
	    EML_F_U64("idwait_us", idwait_us), EML_F_I64("run_us", run_us < 0 ? 0 : run_us),
	    EML_F_I64("reply_us", t[4] - t[3]),
	    EML_F_I64("evidence_us", t[5] - t[4]), EML_F_I64("wipe_us", now - t[5]),
	    EML_F_I64("total_us", now - t[0]));
}

static void (*request_hook)(void *arg);
static void *request_hook_arg;

void
eml_agent_set_request_hook(void (*fn)(void *arg), void *arg)
{
	request_hook_arg = arg;
	request_hook = fn;
}
#ifdef EML_FAULT_INJECTION
/* Fault points of the property tests (common/eml_fault.h): properties 6,
 * 7 and 9 (a log line that prints an input, an output, weights), 14 (the
 * outputs written to a file), 11 (a refusal that aborts the enclave) and 12
 * (a refusal that names the model's first node). Not in release builds. */
static void
fault_log(const char *point, const struct eml_cid *rid, const struct eml_tensor *t,
    const void *p, size_t n)
{
	char hex[129];

	if (!EML_FAULT(point))
		return;
	if (t != NULL) {
		p = t->data;
		n = t->nbytes;
	}
	if (p == NULL || n == 0)
		return;
	EML_LOG_INFO("fault.bytes", rid, EML_F_STR("point", point),
	    EML_F_STR("hex", eml_fault_hex(hex, sizeof(hex), p, n < 64 ? n : 64)));
}

static void
fault_write(const struct eml_tensor *outs, size_t n)
{
	if (!EML_FAULT("agent_write_output") || eml_fault_fd < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (write(eml_fault_fd, outs[i].data, outs[i].nbytes) < 0)
			return;
}

static void
fault_refusal(eml_err rc, struct eml_agent_exec *ex, const struct eml_cid *rid)
{
	const char *node;

	if (EML_FAULT("agent_abort_on_refusal") && rc == EML_ERR_INFER_INPUT)
		abort();
	if (!EML_FAULT("agent_error_names") || ex == NULL ||
	    eml_agent_exec_graph(ex)->n_nodes == 0)
		return;
	node = eml_agent_exec_graph(ex)->nodes[0].name;
	if (node == NULL)
		return;
	EML_LOG_WARN("fault.refused", rid, EML_F_STR("node", node));
	eml_err_set_detail("refused at node %s", node);
}
#endif

/* Writable address of env's body when it is a view into the link's
 * rx_msg (the frame this session owns until its next receive), else NULL. */
static uint8_t *
link_body(struct sess *s, const struct eml_envelope *env)
{
	const struct eml_buf *b = &s->link.rx_msg;
	uintptr_t p = (uintptr_t)env->body, lo = (uintptr_t)b->data;

	if (env->body == NULL || b->data == NULL || p < lo || p - lo > b->len ||
	    env->body_len > b->len - (size_t)(p - lo))
		return NULL;
	return b->data + (p - lo);
}

static void (*exchange_hook)(void *arg);
static void *exchange_hook_arg;

void
eml_agent_set_exchange_hook(void (*fn)(void *arg), void *arg)
{
	exchange_hook_arg = arg;
	exchange_hook = fn;
}

/* Below this a request's body is hashed after the answer, inline: the
 * hand-over to the hash thread would cost about what it saves. */
#define EXCHANGE_POST_MIN ((size_t)16 << 10)

static void
exchange_job(void *arg)
{
	struct sess *s = arg;

	if (exchange_hook != NULL)
		exchange_hook(exchange_hook_arg);
	s->xj.rc = eml_evidence_exchange_update(s->xj.xh, s->xj.in, s->xj.n);
}

/* The request's sealed body into the exchange hash on the session's hash
 * thread while the request is served (issue 16: SHA-256 of a 111 KB
 * request, ~90 us, was the step between the answer and the next read).
 * Only for a body that stays as it arrived until exchange_done (opened
 * out of place: xh->md NULL after open_request). Started as soon as the
 * request is open: the thread is idle until the blob's content id hash,
 * which waits for it to end (a blob fetch comes first). No thread, or a
 * busy one: exchange_join does it inline. On a machine whose other CPU
 * is taken the hash takes the session thread's CPU meanwhile: no gain
 * there, and no loss. */
static void
exchange_start(struct sess *s, struct eml_evidence_x *xh, const struct eml_envelope *env)
{
	if (xh->md != NULL || env->body == NULL || env->body_len < EXCHANGE_POST_MIN)
		return;
	eml_evidence_exchange_begin_len(xh, s->ev.exchange_hash, env->body_len);
	if (xh->md == NULL)
		return; /* exchange_done hashes it whole */
	s->xj.xh = xh;
	s->xj.in = env->body;
	s->xj.n = env->body_len;
	s->xj.rc = -1;
	s->xj.armed = true;
	if (s->hash_worker == NULL && eml_blob_worker_new(&s->hash_worker) != EML_OK) {
		eml_err_clear_detail();
		return;
	}
	s->xj.posted = eml_blob_worker_post(s->hash_worker, exchange_job, s);
}

/* The begun hash (exchange_start) finished: waited for, or done here
 * when it never went to the thread. A failed one is dropped (xh->md
 * NULL) and exchange_done computes the step whole. */
static void
exchange_join(struct sess *s)
{
	if (!s->xj.armed)
		return;
	if (s->xj.posted)
		eml_blob_worker_join(s->hash_worker);
	else
		s->xj.rc = eml_evidence_exchange_update(s->xj.xh, s->xj.in, s->xj.n);
	if (s->xj.rc != 0)
		eml_evidence_exchange_abort(s->xj.xh);
	memset(&s->xj, 0, sizeof(s->xj));
}

/* The exchange hash step for this request: ended from what begin took,
 * or (no in-place open) computed whole from the ciphertext. */
static void
exchange_done(struct sess *s, struct eml_evidence_x *xh, const struct eml_envelope *env)
{
	exchange_join(s);
	if (xh->md != NULL)
		eml_evidence_exchange_end(xh, s->ev.exchange_hash, s->ct.data, s->ct.len);
	else
		eml_agent_ev_exchange(&s->ev, env->body, env->body_len, s->ct.data, s->ct.len);
}

/* eml_channel_open_in_place_x's hook: a piece of the sealed request
 * into the exchange hash just before it is decrypted over. */
static int
exchange_piece(void *arg, const uint8_t *ct, size_t n)
{
	return eml_evidence_exchange_update(arg, ct, n);
}

#define RX_PIECE ((size_t)256 << 10) /* hashed then decrypted while in the cache */
#define RX_HEAD 64 /* more than any valid envelope head */

/* Forget a streamed open that will not finish (the session ends). */
static void
rx_abort(struct sess *s)
{
	eml_evidence_exchange_abort(&s->rx.xh);
	if (s->rx.active)
		eml_channel_open_abort(s->ch);
	memset(&s->rx, 0, sizeof(s->rx));
}

/* Hash and decrypt the streamed body's ciphertext in place up to byte
 * upto (of the ciphertext), in pieces (whole: only whole pieces); a
 * failure is kept in rx.err. */
static void
rx_advance(struct sess *s, uint8_t *fr, size_t upto, bool whole)
{
	while (s->rx.err == EML_OK && upto > s->rx.done &&
	    (!whole || upto - s->rx.done >= RX_PIECE)) {
		uint8_t *p = fr + s->rx.off + s->rx.done;
		size_t k = upto - s->rx.done < RX_PIECE ? upto - s->rx.done : RX_PIECE;

		if (eml_evidence_exchange_update(&s->rx.xh, p, k) != 0)
			s->rx.err = eml_err_record(EML_ERR_CRYPTO, __FILE__, __LINE__, __func__);
		else
			s->rx.err = eml_channel_open_update(s->ch, p, k);
		s->rx.done += k;
	}
}

/* eml_frame_read_x's progress hook for the session's messages: once the
 * head is in, a sealed INFER_REQUEST in an established session starts
 * its open (the channel's streaming open and the exchange hash, as
 * open_request would); then every whole piece of ciphertext that has
 * arrived is hashed and decrypted in place while the rest arrives. The
 * head is read as eml_envelope_view reads it (the view of the whole
 * frame, which reads nothing past the body's start, taken only when that
 * start has arrived); the session reads the frame with that same view
 * when it is complete. Anything else: nothing here. Never fails the read:
 * a failed step is open_request's to report. */
static eml_err
rx_progress(void *arg, uint8_t *fr, size_t got, size_t len)
{
	struct sess *s = arg;
	struct eml_envelope env;

	if (!s->rx.tried) {
		if (got < len && got < RX_HEAD)
			return EML_OK;
		s->rx.tried = true;
		if (s->state != ST_ESTABLISHED || s->ch == NULL ||
		    eml_envelope_view(&env, fr, len, s->link.frame_max) != EML_OK) {
			eml_err_clear_detail(); /* the session's view says it again */
			return EML_OK;
		}
		/* a small request is opened whole, its hash after the answer
		 * (open_request) */
		if (env.type != EML_MSG_INFER_REQUEST || env.body == NULL ||
		    (size_t)(env.body - fr) > got || env.body_len < EML_CHANNEL_TAG_LEN ||
		    env.body_len <= EML_AGENT_LATE_HASH_MAX)
			return EML_OK;
		s->rx.off = (size_t)(env.body - fr);
		s->rx.len = env.body_len;
		eml_evidence_exchange_begin_len(&s->rx.xh, s->ev.exchange_hash, env.body_len);
		if (s->rx.xh.md == NULL)
			return EML_OK; /* open_request does it whole */
		s->rx.active = true;
		s->rx.err = eml_channel_open_begin(s->ch, &env, env.body_len);
	}
	if (s->rx.active && s->rx.err == EML_OK && got > s->rx.off) {
		size_t ct = s->rx.len - EML_CHANNEL_TAG_LEN, in = got - s->rx.off;

		rx_advance(s, fr, in < ct ? in : ct, true);
	}
	return EML_OK;
}

/* Finish a streamed open (rx.active) of env, the same frame: the rest of
 * the ciphertext, the tag into the hash, the tag checked. On failure the
 * whole body is wiped and the session ends. */
static eml_err
open_streamed(struct sess *s, const struct eml_envelope *env, struct eml_evidence_x *xh,
    uint8_t *body, size_t *pt_len)
{
	size_t n = s->rx.len - EML_CHANNEL_TAG_LEN;
	uint8_t *fr = s->link.rx_msg.data;
	eml_err rc = s->rx.err;

	if (rc == EML_OK && (body != env->body || body != fr + s->rx.off ||
	    env->body_len != s->rx.len))
		rc = eml_err_record(EML_ERR_CRYPTO_STATE, __FILE__, __LINE__, __func__);
	if (rc == EML_OK) {
		/* the rest (the frame is whole now), then the tag */
		rx_advance(s, fr, n, false);
		rc = s->rx.err;
	}
	if (rc == EML_OK &&
	    eml_evidence_exchange_update(&s->rx.xh, body + n, EML_CHANNEL_TAG_LEN) != 0)
		rc = eml_err_record(EML_ERR_CRYPTO, __FILE__, __LINE__, __func__);
	if (rc == EML_OK)
		rc = eml_channel_open_final(s->ch, env, body + n);
	if (rc != EML_OK) {
		rx_abort(s); /* closes the channel if final never ran */
		eml_wipe(body, env->body_len);
		return rc;
	}
	*xh = s->rx.xh; /* the exchange step goes on in on_infer */
	memset(&s->rx, 0, sizeof(s->rx));
	*pt_len = n;
	return EML_OK;
}

/* The request's model: assembled from (or matched to) its topology key,
 * or, for a request that names it by topology_digest instead, the model
 * this session keeps (per-session assembly; InferResponse.model_kept told
 * the client). A digest that names nothing kept is refused (sealed), the
 * session goes on and the client sends the key again. */
static eml_err
request_model(struct sess *s, const Eml__V1__InferRequest *req, struct eml_assembly **am,
    struct eml_agent_exec **ex, bool *reused)
{
	if (req->topology_digest.len == 0)
		return get_model(s, req->topology_key.data, req->topology_key.len,
		    &req->model_signature, am, ex, reused);
	if (req->topology_key.len != 0 || req->topology_digest.len != 32) {
		eml_err_set_detail("topology_digest of %zu bytes%s", req->topology_digest.len,
		    req->topology_key.len != 0 ? " with a topology key" : "");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (s->kept == NULL || sodium_memcmp(req->topology_digest.data, s->kept_topo, 32) != 0) {
		eml_err_set_detail("topology_digest names no model kept in this session");
		EML_BAIL(EML_ERR_TOPO);
	}
	*am = s->kept;
	*ex = s->kept_exec;
	*reused = true;
	return EML_OK;
}

/* Open the request into s->pt, at the frame body's address modulo 64
 * (the pad bytes before it are zero): the tensors' alignment, which
 * decides whether the engine reads them in place, is the one they had in
 * the frame. The ciphertext stays in the frame for the exchange hash. */
static eml_err
open_aside(struct sess *s, const struct eml_envelope *env, uint8_t **pt, size_t *pt_len)
{
	size_t pad;
	uint8_t *w;

	pad = ((uintptr_t)env->body - (uintptr_t)s->pt.data) & 63u;
	EML_GUARD(eml_buf_extend(&s->pt, pad, &w));
	if (pad != 0)
		memset(w, 0, pad);
	EML_GUARD(eml_channel_open(s->ch, env, &s->pt));
	*pt = s->pt.data + pad;
	*pt_len = s->pt.len - pad;
	return EML_OK;
}

/* Open the request: in place when *body is set (the exchange hash takes
 * the ciphertext before it is gone; if the digest could not start, end
 * would read these bytes again, so open into the s->pt copy then), else
 * into s->pt. A request of at most EML_AGENT_LATE_HASH_MAX bytes is opened
 * into s->pt too (*body set to NULL): its ciphertext stays in the frame
 * and exchange_done hashes it after the answer is sent, off the client's
 * wait (the one-pass in-place open is for the large ones, whose second
 * pass would run from memory). *pt, *pt_len: the plaintext. A failure
 * ends the session (an in-place body was wiped). */
static eml_err
open_request(struct sess *s, const struct eml_envelope *env, struct eml_evidence_x *xh,
    uint8_t **body, uint8_t **pt, size_t *pt_len)
{
	if (s->rx.active) {
		/* begun while the frame arrived (rx_progress) */
		if (*body == NULL) {
			rx_abort(s);
			EML_BAIL(EML_ERR_CRYPTO_STATE);
		}
		EML_GUARD(open_streamed(s, env, xh, *body, pt_len));
		*pt = *body;
		return EML_OK;
	}
	eml_buf_reset(&s->pt);
	/* without room for the copy (the arena's budget), in place */
	if (*body != NULL && env->body_len <= EML_AGENT_LATE_HASH_MAX &&
	    env->body_len + 64 <= s->pt.max && eml_buf_reserve(&s->pt, env->body_len + 64) == EML_OK) {
		*body = NULL;
		return open_aside(s, env, pt, pt_len);
	}
	if (*body != NULL) {
		/* the ciphertext goes to the hash piece by piece as it is
		 * decrypted over (one pass while each piece is in the cache) */
		eml_evidence_exchange_begin_len(xh, s->ev.exchange_hash, env->body_len);
		if (xh->md == NULL)
			*body = NULL;
	}
	if (*body != NULL) {
		eml_err rc = eml_channel_open_in_place_x(s->ch, env, *body, pt_len, exchange_piece,
		    xh);

		if (rc == EML_OK && env->body_len >= EML_CHANNEL_TAG_LEN &&
		    eml_evidence_exchange_update(xh, env->body + *pt_len, EML_CHANNEL_TAG_LEN) != 0)
			rc = eml_err_record(EML_ERR_CRYPTO, __FILE__, __LINE__, __func__);
		if (rc != EML_OK) {
			eml_evidence_exchange_abort(xh);
			eml_wipe(*body, env->body_len);
			return rc;
		}
		*pt = *body;
		return EML_OK;
	}
	EML_GUARD(eml_channel_open(s->ch, env, &s->pt));
	*pt = s->pt.data;
	*pt_len = s->pt.len;
	return EML_OK;
}

/* Plan while the blob's content id may still be hashing (per-request
 * assembly), then check it before anything runs or is sent: a blob other
 * than the one the key names fails here with the code the assembly gave
 * it (EML_ERR_BLOB_MISMATCH) and the plan is dropped at once; the caller
 * wipes the model. A planning failure is not reported here: the run
 * plans again and fails as it always did. *u_model: when the model was
 * ready; *idwait_us: the wait for the hash after the plan. */
static eml_err
plan_verified(struct eml_assembly *am, struct eml_agent_exec *ex, const struct eml_tensor *in,
    size_t n_in, int64_t *u_model, uint64_t *idwait_us)
{
	int64_t t0;
	eml_err rc;

	*u_model = eml_now_us();
	if (eml_agent_exec_prepare(ex, in, n_in) != EML_OK)
		eml_err_clear_detail(); /* the run plans again and says why */
	t0 = eml_now_us();
	if ((rc = eml_assembly_verify(am)) != EML_OK) {
		eml_agent_exec_drop_plan(ex);
		return rc;
	}
	*idwait_us = (uint64_t)(eml_now_us() - t0);
	return EML_OK;
}

static eml_err
on_infer(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;
	const struct eml_manifest *pol = &s->a->cfg.policy;
	ProtobufCMessage *msg = NULL;
	const Eml__V1__InferRequest *req;
	struct eml_tensor in[EML_AGENT_MAX_IO], outs[EML_AGENT_MAX_IO];
	struct eml_cur data[EML_AGENT_MAX_IO];
	size_t n_outs = 0;
	struct eml_assembly *am = NULL;
	struct eml_agent_exec *ex = NULL;
	bool reused = false;
	struct eml_buf resp;
	struct eml_cid rid;
	int64_t t0 = eml_now_ms(), t_asm = 0, t_run = 0;
	/* phase timers for the debug log (issue 16): microseconds */
	int64_t u0 = eml_now_us(), u_open = 0, u_model = 0, u_run = 0, u_sent = 0, u_wipe;
	uint64_t fetch_us, plan_us, wbytes, idwait_us = 0;
	/* The request is opened where it arrived (the link's rx_msg): no
	 * locked copy of its size; pt/pt_len is the plaintext either way. */
	uint8_t *body = link_body(s, env), *pt = NULL;
	size_t pt_len = 0;
	struct eml_evidence_x xh = { 0 };
	uint64_t early;

	EML_MEMCPY(rid.b, env->request_id, sizeof(rid.b));
	eml_buf_init_secure(&resp, s->link.frame_max);
	eml_buf_reset(&s->pt);
	/* what was hashed and decrypted while the frame arrived */
	early = s->rx.active ? s->rx.done : 0;
	if ((rc = open_request(s, env, &xh, &body, &pt, &pt_len)) != EML_OK)
		goto out; /* ends the session */
	exchange_start(s, &xh, env);
	u_open = eml_now_us();
	/* the open alone (exchange hash + decryption) after the frame was
	 * whole, also for requests refused before they run
	 * (bench-relay-ab.sh reads it); early: bytes done while it arrived */
	EML_LOG_DEBUG("infer.open", &rid, EML_F_I64("open_us", u_open - u0),
	    EML_F_U64("bytes", env->body_len), EML_F_U64("early", early));
	s->link.fetch_us = 0;
	s->requests++;
	(void)eml_arena_budget_hit(true); /* a fresh question per request */
	if (pol->max_requests != 0 && s->requests > pol->max_requests) {
		eml_err_set_detail("more than %llu requests in one session",
		    (unsigned long long)pol->max_requests);
		EML_FAIL(rc, EML_ERR_POLICY);
	}
	/* Per-minute rate: refused sealed, the session goes on (the client
	 * may wait and send again). */
	if (!rate_take(s, pol->max_requests_per_minute, t0)) {
		eml_err_set_detail("more than %llu requests in a minute in this session",
		    (unsigned long long)pol->max_requests_per_minute);
		rc = eml_err_record(EML_ERR_POLICY_RATE, __FILE__, __LINE__, __func__);
		goto refuse;
	}
	/* the tensors stay where they were opened: no copy of the inputs */
	if ((rc = eml_msg_infer_request_unpack_view(pt, pt_len, pt_len, &msg, data,
	    EML_AGENT_MAX_IO)) != EML_OK)
		goto refuse;
	req = (const Eml__V1__InferRequest *)msg;
	if ((rc = input_views(req, data, in, pol->max_input_bytes)) != EML_OK)
		goto refuse;
#ifdef EML_FAULT_INJECTION
	fault_log("agent_log_input", &rid, req->n_inputs > 0 ? &in[0] : NULL, NULL, 0);
#endif
	/* The request's id goes on the host-served blob requests too, so the
	 * proxy's logs correlate them. */
	EML_MEMCPY(s->link.rid, env->request_id, EML_REQUEST_ID_LEN);
	if ((rc = request_model(s, req, &am, &ex, &reused)) != EML_OK ||
	    (rc = plan_verified(am, ex, in, req->n_inputs, &u_model, &idwait_us)) != EML_OK) {
		/* A failure of the connection while fetching ends the session:
		 * I/O or framing (the host is gone or misbehaving), crypto (a
		 * replayed or altered client frame), a message out of order.
		 * A blob whose content id differs is refused (the plan made
		 * from it dropped, the model wiped at out). */
		if (eml_err_category(rc) == 100 || eml_err_category(rc) == 200 ||
		    eml_err_category(rc) == 400 || rc == EML_ERR_SESSION_STATE)
			goto out;
		goto refuse;
	}
#ifdef EML_FAULT_INJECTION
	fault_log("agent_log_weights", &rid, NULL, am->weights, am->weights_len);
#endif
	if ((rc = eml_agent_ev_model(&s->ev, am->content_id, am->topo_digest)) != EML_OK)
		goto refuse;
	t_asm = eml_now_ms();
	if ((rc = eml_agent_exec_run(ex, in, req->n_inputs, outs, EML_AGENT_MAX_IO,
	    &n_outs)) != EML_OK)
		goto refuse;
	t_run = eml_now_ms();
	u_run = eml_now_us();
	if ((rc = encode_answer(pol, ex, outs, n_outs, am == s->kept, &resp)) != EML_OK)
		goto refuse;
#ifdef EML_FAULT_INJECTION
	fault_log("agent_log_output", &rid, n_outs > 0 ? &outs[0] : NULL, NULL, 0);
	fault_write(outs, n_outs);
#endif
	if ((rc = send_sealed(s, EML_MSG_INFER_RESPONSE, env->request_id, resp.data,
	    resp.len)) != EML_OK)
		goto out;
	u_sent = eml_now_us();
	exchange_done(s, &xh, env);
	EML_LOG_INFO("infer.ok", &rid, EML_F_U64("session_request", s->requests),
	    EML_F_U64("in_bytes", pt_len), EML_F_U64("out_bytes", resp.len),
	    EML_F_BOOL("model_reused", reused), EML_F_I64("assemble_ms", t_asm - t0),
	    EML_F_I64("run_ms", t_run - t_asm), EML_F_I64("total_ms", eml_now_ms() - t0));
	rc = EML_OK;
	goto out;
refuse:
	/* Out of locked memory because of the budget: that is load, not the
	 * request's fault; the client may retry later. */
	if (eml_arena_budget_hit(true))
		rc = EML_ERR_BUSY;
#ifdef EML_FAULT_INJECTION
	fault_refusal(rc, ex, &rid);
#endif
	/* A refusal the client should hear about travels sealed, as the
	 * response to its request: code, table message and detail reach the
	 * client only. The host (and our logs, which leave the enclave) learn
	 * that a request was refused, not why: the code would tell what kind
	 * of mistake a private model or input made. */
	EML_LOG_WARN("infer.refused", &rid, EML_F_U64("session_request", s->requests));
	if ((rc = send_refusal(s, env->request_id, rc)) != EML_OK)
		goto out;
	exchange_done(s, &xh, env);
	rc = EML_OK; /* the session goes on */
out:
	exchange_join(s); /* before xh goes and anything is wiped */
	eml_evidence_exchange_abort(&xh); /* NULL-safe: nothing when it ended */
	/* Per-request assembly: wipe weights, activations and topology now. */
	fetch_us = s->link.fetch_us;
	plan_us = eml_agent_exec_plan_us(ex); /* before ex goes with the assembly */
	u_wipe = eml_now_us();
	wbytes = am != NULL ? am->weights_len : 0;
	if (am != NULL && am != s->kept)
		eml_assembly_destroy(am);
	eml_msg_free(msg);
	eml_buf_free(&resp);
	eml_buf_reset(&s->pt);
	if (body != NULL) {
		/* the request's plaintext in the frame buffer: the whole frame
		 * wiped once, here, and left empty, so the next receive has
		 * nothing to wipe again */
		eml_wipe(s->link.rx_msg.data, s->link.rx_msg.len);
		s->link.rx_msg.len = 0;
	}
	if (request_hook != NULL)
		request_hook(request_hook_arg);
	if (u_sent != 0)
		log_phases(&rid, reused, wbytes, (const int64_t[6]){ u0, u_open, u_model, u_run, u_sent,
		    u_wipe }, fetch_us, plan_us, idwait_us);
	return rc;
}

/* docs/EVIDENCE.md: the signed artifact for the session so far; with
 * final set, the session ends after it. A failure to make one is
 * answered with an Error and the session goes on. */
static eml_err
on_evidence(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;
	ProtobufCMessage *msg = NULL;
	const Eml__V1__EvidenceRequest *req;
	Eml__V1__EvidenceResponse resp = EML__V1__EVIDENCE_RESPONSE__INIT;
	struct eml_buf art, body;
	struct eml_cid rid;
	int64_t t0 = eml_now_ms();

	EML_MEMCPY(rid.b, env->request_id, sizeof(rid.b));
	eml_buf_init(&art, EML_EVIDENCE_MAX);
	eml_buf_init(&body, EML_EVIDENCE_MAX + 64);
	eml_buf_reset(&s->pt);
	if ((rc = eml_channel_open(s->ch, env, &s->pt)) != EML_OK)
		goto out; /* ends the session */
	if ((rc = eml_msg_unpack(&eml__v1__evidence_request__descriptor, s->pt.data, s->pt.len,
	    s->pt.len, &msg)) != EML_OK)
		goto refuse;
	req = (const Eml__V1__EvidenceRequest *)msg;
	if (req->nonce.len > EML_EVIDENCE_NONCE_MAX) {
		eml_err_set_detail("evidence nonce of %zu bytes, at most %d", req->nonce.len,
		    EML_EVIDENCE_NONCE_MAX);
		rc = EML_ERR_PROTO_FIELD;
		goto refuse;
	}
	if ((rc = eml_agent_evidence_make(s->a, &s->ev, s->ch, s->requests, req->nonce.data,
	    req->nonce.len, req->final != 0, &art)) != EML_OK)
		goto refuse;
	resp.evidence.data = art.data;
	resp.evidence.len = art.len;
	if ((rc = eml_msg_pack(&resp.base, &body)) != EML_OK)
		goto refuse;
	if ((rc = send_sealed(s, EML_MSG_EVIDENCE_RESPONSE, env->request_id, body.data,
	    body.len)) != EML_OK)
		goto out;
	EML_LOG_INFO("evidence.ok", &rid, EML_F_U64("session_requests", s->requests),
	    EML_F_U64("bytes", art.len), EML_F_BOOL("final", req->final != 0),
	    EML_F_I64("ms", eml_now_ms() - t0));
	if (req->final)
		s->state = ST_CLOSED;
	rc = EML_OK;
	goto out;
refuse:
	EML_LOG_WARN("evidence.refused", &rid, EML_F_ERR(rc), EML_F_STR("where", eml_err_where()));
	EML_MEMCPY(s->link.rid, env->request_id, EML_REQUEST_ID_LEN);
	eml_agent_link_send_error(&s->link, rc, NULL);
	rc = EML_OK;
out:
	eml_msg_free(msg);
	eml_buf_free_nowipe(&art); /* public */
	eml_buf_free_nowipe(&body);
	eml_buf_reset(&s->pt);
	return rc;
}

/* ---------------------------------------------------------------- jobs */

/* In a session: the job key, sealed, so it is as authentic as the
 * attestation the session was bound to. */
static eml_err
on_job_key(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;
	ProtobufCMessage *m = NULL;
	Eml__V1__JobKeyResponse r = EML__V1__JOB_KEY_RESPONSE__INIT;
	struct eml_buf b;

	eml_buf_init(&b, 128);
	eml_buf_reset(&s->pt);
	if ((rc = eml_channel_open(s->ch, env, &s->pt)) != EML_OK)
		goto out;
	if ((rc = eml_msg_unpack(&eml__v1__job_key_request__descriptor, s->pt.data, s->pt.len,
	    64, &m)) != EML_OK)
		goto out;
	r.public_key.data = s->a->job_pk;
	r.public_key.len = sizeof(s->a->job_pk);
	if ((rc = eml_msg_pack(&r.base, &b)) != EML_OK)
		goto out;
	rc = send_sealed(s, EML_MSG_JOB_KEY_RESPONSE, env->request_id, b.data, b.len);
out:
	eml_msg_free(m);
	eml_buf_free_nowipe(&b);
	eml_buf_reset(&s->pt);
	return rc;
}

/* Run an opened job; the outcome (0 and the InferResponse, or the code of
 * a refusal) is encoded as a JobResult into res. Only a failure of the
 * host connection is returned (it ends the connection). */
static eml_err
job_exec(struct sess *s, const Eml__V1__JobRequest *jr, struct eml_buf *res)
{
	eml_err rc = EML_ERR_INTERNAL;
	const struct eml_manifest *pol = &s->a->cfg.policy;
	Eml__V1__JobResult out = EML__V1__JOB_RESULT__INIT;
	struct eml_tensor in[EML_AGENT_MAX_IO], outs[EML_AGENT_MAX_IO];
	Eml__V1__InferRequest ir = EML__V1__INFER_REQUEST__INIT;
	struct eml_assembly *am = NULL;
	struct eml_agent_exec *ex = NULL;
	size_t n_outs = 0;
	bool reused = false;
	struct eml_buf resp;

	eml_buf_init_secure(&resp, s->link.frame_max);
	(void)eml_arena_budget_hit(true); /* a fresh question per job */
	ir.n_inputs = jr->n_inputs;
	ir.inputs = jr->inputs;
	if ((rc = input_views(&ir, NULL, in, pol->max_input_bytes)) != EML_OK)
		goto refuse;
	if ((rc = get_model(s, jr->topology_key.data, jr->topology_key.len,
	    &jr->model_signature, &am, &ex, &reused)) != EML_OK) {
		if (eml_err_category(rc) == 100 || eml_err_category(rc) == 200 ||
		    eml_err_category(rc) == 400 || rc == EML_ERR_SESSION_STATE)
			goto out;
		goto refuse;
	}
	if ((rc = eml_agent_exec_run(ex, in, jr->n_inputs, outs, EML_AGENT_MAX_IO,
	    &n_outs)) != EML_OK)
		goto refuse;
	if ((rc = eml_manifest_check_outputs(pol, outs, n_outs)) != EML_OK ||
	    (rc = eml_egress_encode(eml_agent_exec_graph(ex), outs, n_outs,
	    (size_t)pol->max_output_bytes, &resp)) != EML_OK ||
	    (rc = check_response(pol, &resp)) != EML_OK)
		goto refuse;
	out.code = 0;
	out.response.data = resp.data;
	out.response.len = resp.len;
	rc = eml_msg_pack(&out.base, res);
	goto out;
refuse:
	/* Out of locked memory because of the agent's budget: load, not the
	 * job's fault. A plain BUSY ends the connection and the proxy retries
	 * the job later, instead of sealing a refusal the client keeps. */
	if (eml_arena_budget_hit(true)) {
		rc = EML_ERR_BUSY;
		goto out;
	}
	EML_LOG_WARN("job.refused", &s->sid, EML_F_ERR(rc), EML_F_STR("where", eml_err_where()));
	out.code = (uint32_t)rc;
	rc = eml_msg_pack(&out.base, res);
out:
	if (am != NULL && am != s->kept)
		eml_assembly_destroy(am);
	eml_buf_free(&resp);
	return rc;
}

/* From the host, plain: a job sealed to the job key. Whatever happens
 * inside (a refusal included) goes back sealed to the job's reply key;
 * a job that does not open gets a plain Error and ends the connection. */
static eml_err
on_job_run(struct sess *s, const struct eml_envelope *env)
{
	eml_err rc = EML_ERR_INTERNAL;
	ProtobufCMessage *m = NULL, *jm = NULL;
	const Eml__V1__JobRun *run;
	const Eml__V1__JobRequest *jr;
	Eml__V1__JobDone done = EML__V1__JOB_DONE__INIT;
	struct eml_buf res, sealed, frame;
	uint8_t bind[32];
	int64_t t0 = eml_now_ms();

	eml_buf_init_secure(&res, s->link.frame_max);
	eml_buf_init(&sealed, s->link.frame_max);
	eml_buf_init(&frame, s->link.frame_max);
	s->hello_seen = true;
	s->state = ST_JOB;
	EML_MEMCPY(s->sid.b, env->request_id, sizeof(s->sid.b));
	EML_MEMCPY(s->link.rid, env->request_id, EML_REQUEST_ID_LEN);
	/* A job connection holds a session slot like a client session does;
	 * past the bound the host hears BUSY and retries later. */
	if (!s->slot) {
		if (!eml_agent_session_take(s->a)) {
			eml_err_set_detail("all %u sessions are taken", s->a->cfg.max_sessions);
			EML_FAIL(rc, EML_ERR_BUSY);
		}
		s->slot = true;
	}
	if ((rc = eml_msg_unpack(&eml__v1__job_run__descriptor, env->body, env->body_len,
	    env->body_len, &m)) != EML_OK)
		goto out;
	run = (const Eml__V1__JobRun *)m;
	if (run->job_id.len != EML_JOB_ID_LEN) {
		eml_err_set_detail("job id of %zu bytes", run->job_id.len);
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	eml_buf_reset(&s->pt);
	memset(bind, 0, sizeof(bind));
	if ((rc = eml_jobseal_open(EML_JOBSEAL_JOB, run->job_id.data, s->a->job_sk,
	    s->a->job_pk, bind, run->sealed_job.data, run->sealed_job.len, &s->pt)) != EML_OK)
		goto out;
	if ((rc = eml_msg_unpack(&eml__v1__job_request__descriptor, s->pt.data, s->pt.len,
	    s->pt.len, &jm)) != EML_OK)
		goto out;
	jr = (const Eml__V1__JobRequest *)jm;
	if (jr->reply_public_key.len != EML_JOBSEAL_KEY_LEN) {
		eml_err_set_detail("reply key of %zu bytes", jr->reply_public_key.len);
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	if ((rc = job_exec(s, jr, &res)) != EML_OK)
		goto out;
	/* The result is bound to the exact sealed job it answers. */
	crypto_hash_sha256(bind, run->sealed_job.data, run->sealed_job.len);
	if ((rc = eml_jobseal_seal(EML_JOBSEAL_RESULT, run->job_id.data,
	    jr->reply_public_key.data, bind, res.data, res.len, &sealed)) != EML_OK)
		goto out;
	done.job_id = run->job_id;
	done.sealed_result.data = sealed.data;
	done.sealed_result.len = sealed.len;
	if ((rc = eml_msg_pack(&done.base, &frame)) != EML_OK)
		goto out;
	EML_MEMCPY(s->link.rid, env->request_id, EML_REQUEST_ID_LEN);
	if ((rc = eml_agent_link_send(&s->link, EML_MSG_JOB_DONE, frame.data, frame.len)) != EML_OK)
		goto out;
	s->requests++;
	EML_LOG_INFO("job.done", &s->sid, EML_F_U64("attempt", run->attempt),
	    EML_F_U64("in_bytes", run->sealed_job.len), EML_F_U64("out_bytes", sealed.len),
	    EML_F_I64("total_ms", eml_now_ms() - t0));
	rc = EML_OK;
out:
	eml_msg_free(jm);
	eml_msg_free(m);
	eml_buf_reset(&s->pt);
	eml_buf_free(&res);
	eml_buf_free_nowipe(&sealed);
	eml_buf_free_nowipe(&frame);
	return rc;
}

static const struct sess_rule rules[] = {
	{ EML_MSG_CLIENT_HELLO, ST_HELLO, on_hello },
	{ EML_MSG_INFER_REQUEST, ST_ESTABLISHED, on_infer },
	{ EML_MSG_EVIDENCE_REQUEST, ST_ESTABLISHED, on_evidence },
	{ EML_MSG_CLOSE, ST_ESTABLISHED, on_close },
	{ EML_MSG_JOB_KEY_REQUEST, ST_ESTABLISHED, on_job_key },
	{ EML_MSG_JOB_RUN, ST_HELLO | ST_JOB, on_job_run },
	{ EML_MSG_PING, ST_HELLO | ST_ESTABLISHED, on_ping },
};

static const struct sess_rule *
find_rule(uint32_t type, unsigned state)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].type == type && (rules[i].states & state) != 0)
			return &rules[i];
	return NULL;
}

/* ---------------------------------------------------------------- loop */

eml_err
eml_agent_session(struct eml_agent *a, int fd)
{
	eml_err rc = EML_OK;
	struct sess s;
	char peer[EML_ADDR_STR_MAX];
	int64_t t0 = eml_now_ms();
	struct eml_arena *arena = NULL, *prev_arena;
	struct eml_arena_stats ast;

	/* Every secret of the session (keys, plaintext, the model, the
	 * engine's buffers) in one locked arena: a few mappings per session
	 * instead of three per allocation (vm.max_map_count), wiped in one go
	 * at the end; the previous session's, wiped, when one was kept. */
	if ((rc = eml_agent_arena_take(a, &arena)) != EML_OK) {
		EML_LOG_ERROR("session.arena", NULL, EML_F_ERR(rc));
		(void)close(fd);
		return rc;
	}
	prev_arena = eml_arena_use(arena);
	memset(&s, 0, sizeof(s));
	s.a = a;
	s.state = ST_HELLO;
	eml_agent_link_init(&s.link, fd, a->cfg.frame_max, a->cfg.idle_timeout_ms);
	eml_buf_init_secure(&s.pt, a->cfg.frame_max);
	eml_buf_init(&s.ct, a->cfg.frame_max);
	eml_transport_peer_string(fd, peer, sizeof(peer));
	/* The simulator's next signature nonce: made when no client is
	 * verifying a document of ours (not right after one is signed),
	 * here when the last session left none, else after this session's
	 * first message past the hello or at its end; a hello arriving
	 * while it is made waits for it. */
	eml_agent_attest_refill(a);
	while (s.state != ST_CLOSED) {
		struct eml_envelope env;
		const struct sess_rule *r;
		bool past_hello = s.state == ST_ESTABLISHED;

		memset(&env, 0, sizeof(env));
		rx_abort(&s); /* nothing under way between messages */
		rc = eml_agent_link_recv_msg_x(&s.link, &env, rx_progress, &s);
		if (rc == EML_ERR_IO_EOF) {
			rc = EML_OK; /* the peer went away between messages */
			break;
		}
		if (rc != EML_OK) {
			eml_agent_link_send_error(&s.link, rc, NULL);
			break;
		}
		r = find_rule(env.type, s.state);
		if (r == NULL) {
			eml_err_set_detail("%s in state %u", eml_msg_type_name(env.type), s.state);
			rc = eml_err_record(EML_ERR_SESSION_STATE, __FILE__, __LINE__, __func__);
			eml_agent_link_send_error(&s.link, rc, NULL);
			eml_envelope_clear(&env);
			break;
		}
		(void)eml_arena_budget_hit(true);
		rc = r->fn(&s, &env);
		eml_envelope_clear(&env);
		if (past_hello)
			eml_agent_attest_refill(a);
		/* Out of locked memory because of the budget (e.g. during the
		 * handshake): load, not a fault; the client may retry. */
		if (rc == EML_ERR_NOMEM && eml_arena_budget_hit(true))
			rc = EML_ERR_BUSY;
		if (rc != EML_OK) {
			/* A crypto failure gets a coarse code (STYLE §14). */
			eml_agent_link_send_error(&s.link,
			    eml_err_category(rc) == 400 ? EML_ERR_CRYPTO_AUTH : rc, NULL);
			break;
		}
	}
	if (rc == EML_OK && !s.hello_seen)
		/* Health probes (PING/PONG, or connect and close) every second:
		 * debug, not info. */
		EML_LOG_DEBUG("session.probe", NULL, EML_F_STR("peer", peer),
		    EML_F_I64("ms", eml_now_ms() - t0));
	else if (rc == EML_OK)
		EML_LOG_INFO("session.end", &s.sid, EML_F_STR("peer", peer),
		    EML_F_U64("requests", s.requests), EML_F_I64("ms", eml_now_ms() - t0));
	else
		EML_LOG_WARN("session.end", &s.sid, EML_F_STR("peer", peer),
		    EML_F_U64("requests", s.requests), EML_F_ERR(rc),
		    EML_F_STR("where", eml_err_where()), EML_F_I64("ms", eml_now_ms() - t0));
	if (s.hello_seen)
		eml_agent_attest_refill(a);
	rx_abort(&s);
	drop_kept(&s);
	eml_blob_worker_free(s.hash_worker); /* after every assembly is gone */
	if (s.slot)
		eml_agent_session_release(a);
	eml_channel_free(s.ch);
	eml_buf_free(&s.pt);
	eml_buf_free_nowipe(&s.ct); /* ciphertext */
	eml_agent_link_clear(&s.link);
	(void)close(fd);
	eml_arena_stats(arena, &ast);
	if (s.hello_seen)
		EML_LOG_DEBUG("session.arena", &s.sid, EML_F_U64("segments", ast.segments),
		    EML_F_U64("committed", ast.committed), EML_F_U64("peak", ast.peak),
		    EML_F_U64("left", ast.in_use), EML_F_BOOL("locked", ast.locked));
	(void)eml_arena_use(prev_arena);
	/* Wiped whole either way (property 10); a small one is kept, empty,
	 * for the next session: no mapping, commit and page faults again. */
	eml_agent_arena_give(a, arena);
	return rc;
}

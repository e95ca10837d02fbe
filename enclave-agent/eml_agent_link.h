/*
 * The agent's side of one relayed connection: envelopes over frames on a
 * stream descriptor, with per-message deadlines, plus the sealed weight
 * blob fetched THROUGH THE HOST (DESIGN §3 step 7).
 *
 * Blob fetch: the agent asks for byte ranges of a blob by content id with
 * plain BLOB_REQUEST envelopes on the same connection; the proxy answers
 * each with a BLOB_RESPONSE from its store. Nothing secret is in either
 * message (the content id is public, the bytes are ciphertext). The
 * answers are untrusted: the offset echo, the length and the total size
 * must be exactly what was asked and announced, and the blob reader
 * authenticates every chunk and the content id on top.
 */
#ifndef EML_AGENT_LINK_H
#define EML_AGENT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_err.h"
#include "eml_frame.h"
#include "model/eml_blob.h"

/* Range asked for in one BLOB_REQUEST: the blob is read ahead in ranges
 * of EML_AGENT_BLOB_AHEAD (fewer round trips through the host: issue 16;
 * 4 MiB and 64 KiB, so that four 1 MiB chunks with their tags fit, as the
 * proxy's EML_STORE_RANGE_MAX allows), of EML_AGENT_BLOB_AHEAD_V1 (4 MiB:
 * three such chunks) when the host refuses that much (a proxy from before
 * issue 16), and of EML_AGENT_BLOB_PIECE when it refuses that too or the
 * link's frame limit is smaller. */
#define EML_AGENT_BLOB_PIECE ((size_t)1 << 20)
#define EML_AGENT_BLOB_AHEAD_V1 ((size_t)4 << 20)
#define EML_AGENT_BLOB_AHEAD (((size_t)4 << 20) + ((size_t)64 << 10))

struct eml_agent_link {
	int fd;
	size_t frame_max;
	int64_t timeout_ms;  /* per received message; < 0 waits forever */
	uint8_t rid[EML_REQUEST_ID_LEN]; /* request id for what we send */
	struct eml_buf rx;   /* last received frame (blob answers) */
	/* the session's current message: its envelope's body points here
	 * (not copied) while blob answers arrive in rx */
	struct eml_buf rx_msg;
	/* the longest message rx_msg held whole: nothing past it was ever
	 * written (a read that failed wiped what it got) */
	size_t rx_hw;
	struct eml_buf tx;   /* encoding scratch (ciphertext or plain) */
	/* Blob fetch statistics of the last eml_agent_blob_source use. */
	uint64_t blob_requests;
	uint64_t blob_bytes;
	uint64_t fetch_us; /* time spent waiting for and copying blob answers */
};

/* Set up a link over fd (not owned). */
void eml_agent_link_init(struct eml_agent_link *l, int fd, size_t frame_max,
    int64_t timeout_ms);
/* Free the buffers (wiped). Does not close fd. A message buffer that held
 * a large message whole is wiped and kept for the next link instead
 * (eml_agent_link.c: one for the process). */
void eml_agent_link_clear(struct eml_agent_link *l);
/* Free the message buffer kept between links (at the agent's end). */
void eml_agent_link_park_drop(void);

/* Send one envelope with the link's request id. Errors of
 * eml_envelope_pack and eml_frame_write. */
eml_err eml_agent_link_send(struct eml_agent_link *l, uint32_t type, const uint8_t *body,
    size_t n) EML_MUST_USE;
/* Send a plain Error envelope (code, short message); best effort. */
void eml_agent_link_send_error(struct eml_agent_link *l, eml_err code, const char *msg);
/* Receive and validate one envelope (blob answers) in place: env's body
 * points into the link's rx until the next eml_agent_link_recv. Errors
 * of eml_frame_read and eml_envelope_view. */
eml_err eml_agent_link_recv(struct eml_agent_link *l, struct eml_envelope *env) EML_MUST_USE;
/* Receive the session's next message in place: env's body points into the
 * link's rx_msg (no copy of a large request) and stays valid until the
 * next eml_agent_link_recv_msg; blob fetches (eml_agent_link_recv) do not
 * disturb it. Same errors. */
eml_err eml_agent_link_recv_msg(struct eml_agent_link *l, struct eml_envelope *env)
    EML_MUST_USE;
/* The same, with fn shown the frame as it arrives (eml_frame_read_x). */
eml_err eml_agent_link_recv_msg_x(struct eml_agent_link *l, struct eml_envelope *env,
    eml_frame_progress_fn fn, void *arg) EML_MUST_USE;

/*
 * A blob source (eml_blob.h) that fetches ranges of the blob with this
 * content id through the host on link l. file_size is what the topology
 * key says the file is; the host must agree on every answer.
 * The source borrows l and content_id.
 */
struct eml_agent_blob_frame;
struct eml_agent_blob_ctx {
	struct eml_agent_link *link;
	const uint8_t *content_id;
	uint64_t file_size;
	/* A client never sends while its request runs, so a sealed frame in
	 * place of a blob answer is a replay, an injection or a broken
	 * client. unexpected (may be NULL) decides what it was (the session
	 * tries to open it: a replay then fails authentication); the fetch
	 * fails with its code, or EML_ERR_SESSION_STATE when it returns OK. */
	eml_err (*unexpected)(void *arg, const struct eml_envelope *env);
	void *arg;
	/* Read-ahead (set up by eml_agent_blob_source): the last answer,
	 * ciphertext only, in a frame of its own (ra, one reference) that
	 * the blob reader may also hold while it hashes chunks lent from it
	 * (borrow, no copy: issue 16); ra_data points into ra's frame, or
	 * into its decoded message when the answer had to be decoded. */
	struct eml_agent_blob_frame *ra;
	uint64_t ra_off;
	size_t ra_len;
	const uint8_t *ra_data;
	size_t ahead; /* range asked for each time */
};
/* ctx must be zeroed before its fields are set; eml_agent_blob_ctx_clear
 * frees the read-ahead when the source is no longer used. */
void eml_agent_blob_source(struct eml_blob_source *src, struct eml_agent_blob_ctx *ctx);
void eml_agent_blob_ctx_clear(struct eml_agent_blob_ctx *ctx);

#endif

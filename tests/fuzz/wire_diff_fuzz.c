/* Target: a differential between the proxy's streaming header reader
 * (eml_wire_peek, host-proxy/eml_wire.c) and the full envelope parser the
 * agent and the client use (eml_envelope_unpack, common/eml_envelope.c).
 * Invariant: for every frame body, whenever the proxy accepts a header the
 * full parser either agrees on version, type, request id and the exact
 * body bytes, or refuses the frame for something only it checks (the
 * body's size or contents for its type); and whenever the full parser
 * accepts, the proxy accepts with the same answer, or refuses it as
 * undecodable (it is stricter about repeated fields). A frame the two read
 * differently is a frame the proxy would route or account as something
 * the endpoints never see. Seeds: tests/fuzz/corpus/wire_diff/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_envelope.h"
#include "eml_mem.h"
#include "host-proxy/eml_wire.h"
#include "tests/fuzz/eml_fuzz.h"

#define FZ_FRAME_MAX ((size_t)1 << 20)

/* Whether the envelope's top level is not in canonical form: a field
 * given twice or fields out of order (a plain protobuf scan: varint keys,
 * varint or length-delimited values). */
static int
repeats_a_field(const uint8_t *p, size_t n)
{
	unsigned seen = 0;
	size_t i = 0;

	while (i < n) {
		uint64_t key = 0, v = 0;
		unsigned sh = 0;

		do {
			if (i >= n || sh > 63)
				return 0;
			key |= (uint64_t)(p[i] & 0x7f) << sh;
			sh += 7;
		} while (p[i++] & 0x80);
		/* a field again, or out of order (the proxy wants the body
		 * last, to stream it) */
		if ((key >> 3) <= seen)
			return 1;
		seen = (unsigned)(key >> 3 > 15 ? 15 : key >> 3);
		sh = 0;
		do {
			if (i >= n || sh > 63)
				return 0;
			v |= (uint64_t)(p[i] & 0x7f) << sh;
			sh += 7;
		} while (p[i++] & 0x80);
		if ((key & 7) == 2) {
			if (v > n - i)
				return 0;
			i += (size_t)v;
		} else if ((key & 7) != 0) {
			return 0;
		}
	}
	return 0;
}

EML_FUZZ_TARGET(NULL)
{
	struct eml_wire_hdr h;
	struct eml_envelope env;
	eml_err rp, rf;

	if (size == 0 || size > FZ_FRAME_MAX)
		return 0;
	rp = eml_wire_peek(data, size, size, &h);
	rf = eml_envelope_unpack(&env, data, size, FZ_FRAME_MAX);
	if (rf == EML_OK && rp != EML_OK && repeats_a_field(data, size)) {
		/* The proxy is stricter (fail closed): it refuses a header
		 * field given twice or out of order, which protobuf-c accepts
		 * (last value wins, any order); found by this target, corpus
		 * repeated_field*, body_not_last. */
		eml_envelope_clear(&env);
		return 0;
	}
	if (rf == EML_OK) {
		if (rp != EML_OK || h.version != env.version || h.type != env.type ||
		    memcmp(h.request_id, env.request_id, EML_REQUEST_ID_LEN) != 0 ||
		    h.body_len != env.body_len || h.body_off + h.body_len != size ||
		    (env.body_len > 0 && memcmp(data + h.body_off, env.body, env.body_len) != 0))
			abort();
		eml_envelope_clear(&env);
		return 0;
	}
	/* The full parser refused: the proxy may accept the header only when
	 * the refusal is about the body (size limit of the type, contents). */
	if (rp == EML_OK && rf != EML_ERR_PROTO_TOO_LARGE && rf != EML_ERR_PROTO_FIELD &&
	    rf != EML_ERR_PROTO_DECODE)
		abort();
	return 0;
}

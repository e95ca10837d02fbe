/* Target: a differential between the proxy's streaming header reader
 * (eml_wire_peek, host-proxy/eml_wire.c) and the full envelope parser the
 * agent and the client use (eml_envelope_unpack, common/eml_envelope.c).
 * Invariant: for every frame body, whenever the proxy accepts a header the
 * full parser either agrees on version, type, request id and the exact
 * body bytes, or refuses the frame for something only it checks (the
 * body's size or contents for its type); and whenever the full parser
 * accepts, the proxy accepts with the same answer. A frame the two read
 * differently is a frame the proxy would route or account as something
 * the endpoints never see. (The first runs found the full parser laxer:
 * protobuf-c takes a repeated field, last one wins, and any field order;
 * eml_envelope_unpack now refuses both like the proxy: corpus
 * repeated_field*, body_not_last.) Seeds: tests/fuzz/corpus/wire_diff/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_envelope.h"
#include "eml_mem.h"
#include "host-proxy/eml_wire.h"
#include "tests/fuzz/eml_fuzz.h"

#define FZ_FRAME_MAX ((size_t)1 << 20)

EML_FUZZ_TARGET(NULL)
{
	struct eml_wire_hdr h;
	struct eml_envelope env;
	eml_err rp, rf;

	if (size == 0 || size > FZ_FRAME_MAX)
		return 0;
	rp = eml_wire_peek(data, size, size, &h);
	rf = eml_envelope_unpack(&env, data, size, FZ_FRAME_MAX);
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

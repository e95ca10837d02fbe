/* Target: what the host controls on the job path, as the agent reads it:
 * a JobRun message (protobuf) and the sealed job inside it
 * (eml_jobseal_peek, eml_jobseal_open under a fixed fuzz key), and a
 * sealed result as the client opens it.
 * Invariants: no crash or over-read; nothing opens unless it was sealed
 * to the fuzz key (the seeds in tests/fuzz/corpus/jobseal/ are, so the
 * success path is reached); a failed open leaves the output empty. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_jobseal.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

/* X25519 secret of the fuzz recipient; its public half is computed. */
static const uint8_t fuzz_sk[32] = { 0x42, 0x17 };
static uint8_t fuzz_pk[32];

/* Once, before the first input. */
static int
fuzz_setup(void)
{
	if (eml_jobseal_public(fuzz_sk, fuzz_pk) != EML_OK)
		abort();
	return 0;
}

static void
try_open(enum eml_jobseal_kind kind, const uint8_t *p, size_t n)
{
	uint8_t id[EML_JOB_ID_LEN], zero[32] = { 0 };
	struct eml_buf pt;
	eml_err rc;

	eml_buf_init_secure(&pt, 1u << 20);
	(void)eml_jobseal_peek(p, n, id);
	rc = eml_jobseal_open(kind, NULL, fuzz_sk, fuzz_pk, zero, p, n, &pt);
	if (rc != EML_OK && pt.len != 0)
		abort();
	if (rc == EML_OK && pt.len + EML_JOBSEAL_OVERHEAD != n)
		abort();
	eml_buf_free(&pt);
}

EML_FUZZ_TARGET(fuzz_setup)
{
	ProtobufCMessage *m = NULL;

	try_open(EML_JOBSEAL_JOB, data, size);
	try_open(EML_JOBSEAL_RESULT, data, size);
	if (eml_msg_unpack(&eml__v1__job_run__descriptor, data, size, size, &m) == EML_OK) {
		const Eml__V1__JobRun *r = (const Eml__V1__JobRun *)m;

		try_open(EML_JOBSEAL_JOB, r->sealed_job.data, r->sealed_job.len);
		eml_msg_free(m);
	}
	return 0;
}

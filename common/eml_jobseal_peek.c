/* The host's view of a sealed job: its magic and job id, nothing else.
 * Its own file so that eml-proxy, which links it, links none of the seal's
 * key agreement or AEAD (tests/integration/proxy_isolation.sh). */
#include <string.h>

#include "eml_jobseal.h"

static const uint8_t magic_job[4] = { 'E', 'M', 'J', '1' };

eml_err
eml_jobseal_peek(const uint8_t *sealed, size_t n, uint8_t job_id[EML_JOB_ID_LEN])
{
	EML_ENSURE(job_id != NULL, EML_ERR_NULL);
	if (sealed == NULL || n < EML_JOBSEAL_OVERHEAD || memcmp(sealed, magic_job, 4) != 0) {
		eml_err_set_detail("not a sealed job (%zu bytes)", n);
		EML_BAIL(EML_ERR_JOB_SEAL);
	}
	EML_MEMCPY(job_id, sealed + 4, EML_JOB_ID_LEN);
	return EML_OK;
}

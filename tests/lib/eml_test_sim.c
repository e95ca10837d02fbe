#include "eml_test_sim.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "eml_test.h"

void
eml_test_sim_pcr_hex(int n, char out[97])
{
	char msg[64];
	unsigned char md[48];
	unsigned int len = 0;

	(void)snprintf(msg, sizeof(msg), "EphemeralML simulator PCR%d", n);
	assert_int_equal(EVP_Digest(msg, strlen(msg), md, &len, EVP_sha384(), NULL), 1);
	assert_int_equal(len, sizeof(md));
	for (size_t i = 0; i < sizeof(md); i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

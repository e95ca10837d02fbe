/* Built by tests/integration/sdk_install.sh against the INSTALLED
 * <eml/eml.h> and pkg-config only: what a third-party program sees. */
#include <stdio.h>
#include <string.h>

#include <eml/eml.h>

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "sdk_smoke: %s:%d: %s\n", __FILE__,    \
			    __LINE__, #c);                                     \
			return 1;                                              \
		}                                                              \
	} while (0)

int
main(int argc, char **argv)
{
	struct eml_client *c = NULL;
	struct eml_client_model *m = NULL;
	struct eml_client_tensor t, *back = NULL;
	float v[6] = { 1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -0.5f };
	char path[512];
	int rc;

	CHECK(argc == 3); /* a scratch dir and a refused TCP address */
	CHECK(strcmp(eml_version(), EML_VERSION_STRING) == 0);
	CHECK(strcmp(eml_client_error_name(300), "EML_ERR_ATTEST") == 0);
	CHECK(strlen(eml_client_strerror(701)) > 0);

	/* Tensor files round trip through the public API. */
	memset(&t, 0, sizeof(t));
	t.name = "x";
	t.dtype = EML_CLIENT_DT_FLOAT;
	t.rank = 2;
	t.dims[0] = 2;
	t.dims[1] = 3;
	t.data = v;
	t.nbytes = sizeof(v);
	snprintf(path, sizeof(path), "%s/t.pb", argv[1]);
	CHECK(eml_client_tensor_save(path, &t) == 0);
	CHECK(eml_client_tensor_load(path, &back) == 0);
	CHECK(back->rank == 2 && back->dims[1] == 3 && back->nbytes == sizeof(v));
	CHECK(memcmp(back->data, v, sizeof(v)) == 0 && strcmp(back->name, "x") == 0);
	eml_client_tensors_free(back, 1);
	/* Inconsistent tensor: a usage error, not a crash. */
	t.nbytes = 5;
	CHECK(eml_client_tensor_save(path, &t) / 100 == EML_CLIENT_CAT_USAGE / 100);

	/* Errors carry codes and details. */
	rc = eml_client_model_open(argv[1], &m); /* no model.topo there */
	CHECK(rc / 100 * 100 == EML_CLIENT_CAT_IO && m == NULL);
	CHECK(strlen(eml_client_detail(NULL)) > 0);
	rc = eml_client_connect(argv[2], &c);
	CHECK(rc / 100 * 100 == EML_CLIENT_CAT_IO && c == NULL);
	CHECK(eml_client_connect("not an address", &c) != 0 && c == NULL);
	eml_client_close(NULL);
	eml_client_model_close(NULL);
	printf("sdk_smoke: libeml %s OK\n", eml_version());
	return 0;
}

/* Load client for tests/soak/operator_load.sh: one API key, requests as
 * fast as the proxy admits them for a given time. A session is attested
 * once and reused; a rate-limit refusal (759) ends it, so the client waits
 * the retry-after hint from the refusal and starts a new one. Every answer
 * is compared with the reference output. Prints one line:
 *   ok=N refused=N wrong=N errors=N sessions=N
 * and exits 0 when nothing was wrong and no other error happened.
 *
 *   load_client PROXY MODEL_DIR POLICY INPUT.pb REF.pb KEY SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <eml/eml.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
main(int argc, char **argv)
{
	struct eml_client_model *m = NULL;
	struct eml_client_tensor *in = NULL, *ref = NULL;
	long ok = 0, refused = 0, wrong = 0, errors = 0, sessions = 0;
	double end;

	if (argc != 8) {
		fprintf(stderr, "usage: load_client PROXY MODEL POLICY INPUT REF KEY SECONDS\n");
		return 2;
	}
	end = now_s() + atof(argv[7]);
	if (eml_client_model_open(argv[2], &m) != 0 || eml_client_tensor_load(argv[4], &in) != 0 ||
	    eml_client_tensor_load(argv[5], &ref) != 0) {
		fprintf(stderr, "load_client: cannot load model or tensors\n");
		return 2;
	}
	while (now_s() < end) {
		struct eml_client *c = NULL;
		int rc;

		if ((rc = eml_client_connect(argv[1], &c)) != 0 ||
		    (rc = eml_client_set_api_key(c, argv[6])) != 0 ||
		    (rc = eml_client_attest(c, argv[3])) != 0) {
			fprintf(stderr, "load_client: session: %d %s\n", rc, eml_client_detail(c));
			errors++;
			eml_client_close(c);
			nap_ms(100);
			continue;
		}
		sessions++;
		while (now_s() < end) {
			struct eml_client_tensor *out = NULL;
			size_t n = 0;

			rc = eml_client_infer(c, m, in, 1, &out, &n);
			if (rc == 0) {
				if (n == 1 && out[0].nbytes == ref->nbytes &&
				    memcmp(out[0].data, ref->data, ref->nbytes) == 0)
					ok++;
				else
					wrong++;
				eml_client_tensors_free(out, n);
				continue;
			}
			if (rc == 759) {
				const char *d = strstr(eml_client_detail(c), "retry_after_ms=");
				long ms = d != NULL ? atol(d + 15) : 1000;

				refused++;
				/* never past the end of the run */
				if (ms > (long)((end - now_s()) * 1000.0))
					ms = (long)((end - now_s()) * 1000.0);
				if (ms > 0)
					nap_ms(ms);
			} else {
				fprintf(stderr, "load_client: infer: %d %s\n", rc, eml_client_detail(c));
				errors++;
			}
			break;
		}
		eml_client_close(c);
	}
	printf("ok=%ld refused=%ld wrong=%ld errors=%ld sessions=%ld\n", ok, refused, wrong, errors,
	    sessions);
	eml_client_tensors_free(in, 1);
	eml_client_tensors_free(ref, 1);
	eml_client_model_close(m);
	return wrong == 0 && errors == 0 ? 0 : 1;
}

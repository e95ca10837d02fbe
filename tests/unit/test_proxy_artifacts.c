/* The proxy's view of blob signatures (host-proxy/eml_artifacts.c): the
 * signers file, and the state of a blob's signature file in a real store
 * directory. */
#include "eml_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "host-proxy/eml_artifacts.h"
#include "model/eml_sign.h"

static const char K1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char K2[] = "AbCdEf0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

static eml_err
parse(const char *s, struct eml_signers *out)
{
	return eml_signers_parse((const uint8_t *)s, strlen(s), out);
}

static void
signers_file(void **state)
{
	struct eml_signers sg;
	char text[512];
	static const char *const bad[] = {
		"", "# only a comment\n", "1234\n", "key id 12\n",
		"1111111111111111111111111111111111111111111111111111111111111111x\n",
		"g111111111111111111111111111111111111111111111111111111111111111\n",
	};

	(void)state;
	snprintf(text, sizeof(text), "# allowed\n\n%s\r\nkey id %s  \n", K1, K2);
	assert_eml_ok(parse(text, &sg));
	assert_int_equal(sg.n, 2);
	assert_int_equal(sg.ids[0][0], 0x11);
	assert_int_equal(sg.ids[1][0], 0xab);
	assert_int_equal(sg.ids[1][31], 0x89);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &sg) != EML_ERR_CONFIG)
			fail_msg("accepted bad signers file %zu", i);
		assert_int_equal(sg.n, 0);
	}
}

static void
write_file(int dirfd, const char *name, const void *p, size_t n)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void
signature_states(void **state)
{
	char dir[] = "/tmp/eml-artifacts-XXXXXX";
	char name[80], hex[65];
	struct eml_store s;
	struct eml_sig sig;
	struct eml_buf file;
	struct eml_signers sg;
	uint8_t id[32], kid[32];
	bool has = false;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_eml_ok(eml_store_open(&s, dir));
	memset(id, 0x42, sizeof(id));
	eml_hex_encode(hex, id, 32);
	snprintf(name, sizeof(name), "%s.sig", hex);
	/* no file */
	assert_int_equal(eml_artifact_sig_state(&s, id, NULL, kid, &has), EML_ARTIFACT_UNSIGNED);
	assert_false(has);
	/* a well-formed Ed25519 model.sig by key 0x11.. */
	memset(&sig, 0, sizeof(sig));
	sig.alg = EML_SIG_ED25519;
	memset(sig.key_id, 0x11, 32);
	sig.sig_len = 64;
	eml_buf_init(&file, 4096);
	assert_eml_ok(eml_sig_encode(&sig, &file));
	write_file(s.dirfd, name, file.data, file.len);
	assert_int_equal(eml_artifact_sig_state(&s, id, NULL, kid, &has), EML_ARTIFACT_SIGNED);
	assert_true(has);
	assert_int_equal(kid[0], 0x11);
	assert_eml_ok(parse(K1, &sg));
	assert_int_equal(eml_artifact_sig_state(&s, id, &sg, kid, &has), EML_ARTIFACT_SIGNED);
	assert_eml_ok(parse(K2, &sg));
	assert_int_equal(eml_artifact_sig_state(&s, id, &sg, kid, &has), EML_ARTIFACT_BAD);
	assert_true(has); /* parsed: the signer is known, just not allowed */
	/* one byte short: malformed */
	write_file(s.dirfd, name, file.data, file.len - 1);
	assert_int_equal(eml_artifact_sig_state(&s, id, NULL, kid, &has), EML_ARTIFACT_BAD);
	assert_false(has);
	/* a symlink is not followed */
	assert_int_equal(unlinkat(s.dirfd, name, 0), 0);
	assert_int_equal(symlinkat("/etc/hostname", s.dirfd, name), 0);
	assert_int_equal(eml_artifact_sig_state(&s, id, NULL, kid, &has), EML_ARTIFACT_BAD);
	assert_int_equal(unlinkat(s.dirfd, name, 0), 0);
	eml_buf_free(&file);
	eml_store_close(&s);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signers_file),
		cmocka_unit_test(signature_states),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

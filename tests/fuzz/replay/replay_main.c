/*
 * Corpus replay for the libFuzzer targets without libFuzzer: make test
 * links each tests/fuzz/<name>_fuzz.c with this main and runs it over
 * tests/fuzz/corpus/<name>/ (scripts/run-tests.sh), so every seed and
 * every finding kept in a corpus is re-checked on every build, under the
 * build's own sanitizers. Usage: REPLAY DIR... ; exit 1 on an unreadable
 * file (a target that fails aborts).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eml_file.h"
#include "eml_mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
one(const char *path, size_t *n)
{
	uint8_t *p = NULL;
	size_t len = 0;

	if (eml_file_read(path, (size_t)64 << 20, 0, &p, &len) != EML_OK) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		return 1;
	}
	(void)LLVMFuzzerTestOneInput(p, len);
	eml_file_free(p, len, 0);
	(*n)++;
	return 0;
}

int
main(int argc, char **argv)
{
	size_t n = 0;
	int bad = 0;

	if (LLVMFuzzerInitialize != NULL)
		(void)LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char path[4096];

		if (d == NULL) {
			bad |= one(argv[i], &n);
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			(void)snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			bad |= one(path, &n);
		}
		closedir(d);
	}
	printf("replay: %zu inputs\n", n);
	return bad;
}

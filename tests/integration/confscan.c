/*
 * Confidentiality scan: no 16-byte window of a secret appears in anything
 * the host saw.
 *
 *   confscan --secret FILE... --seen FILE...
 *
 * --secret: bytes that must stay confidential (raw input and output tensor
 * data, the topology key, plaintext weights). --seen: everything the host
 * recorded (the proxy's relay capture, its weight store, its logs, the
 * agent's logs as they would be forwarded to the host).
 *
 * Low-entropy windows (fewer than MIN_DISTINCT distinct byte values: runs
 * of zeros, a repeated float) are skipped because they occur by chance in
 * any large file and identify nothing. Each secret must have at least one
 * checkable window, so a vacuous scan cannot pass.
 *
 * Method: the seen files are indexed by their 8-byte blocks at offsets that
 * are multiples of 8, sorted. A 16-byte occurrence anywhere in a seen file
 * fully covers one aligned block, which starts d bytes (0 <= d < 8) into
 * the occurrence, so for each secret window we look up its 8 bytes at each
 * d and verify the candidates at full width.
 *
 * Built by the integration scripts against libeml_common (for eml_alloc).
 * Exit status: 0 clean, 1 leak or vacuous secret, 2 usage or I/O.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eml_mem.h"

#define WINDOW 16
#define MIN_DISTINCT 6
#define MAX_FILES 256
#define MAX_LEAKS_SHOWN 5

struct file {
	const char *path;
	uint8_t *data;
	size_t len;
};

struct block {
	uint64_t v;
	uint32_t file;
	uint64_t off;
};

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int
read_file(const char *path, struct file *f)
{
	FILE *fp = fopen(path, "rb");
	size_t cap = 1 << 16;

	f->path = path;
	f->len = 0;
	f->data = NULL;
	if (fp == NULL) {
		fprintf(stderr, "confscan: cannot open %s\n", path);
		return -1;
	}
	f->data = eml_alloc(cap);
	while (f->data != NULL) {
		size_t r = fread(f->data + f->len, 1, cap - f->len, fp);

		f->len += r;
		if (r == 0)
			break;
		if (f->len == cap) {
			uint8_t *n = eml_realloc(f->data, cap * 2);

			if (n == NULL) {
				eml_free(f->data);
				f->data = NULL;
				break;
			}
			f->data = n;
			cap *= 2;
		}
	}
	fclose(fp);
	if (f->data == NULL) {
		fprintf(stderr, "confscan: out of memory reading %s\n", path);
		return -1;
	}
	return 0;
}

static int
cmp_block(const void *a, const void *b)
{
	const struct block *x = a, *y = b;

	return x->v < y->v ? -1 : x->v > y->v;
}

/* First index with blocks[i].v >= v. */
static size_t
lower_bound(const struct block *blocks, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (blocks[mid].v < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
low_entropy(const uint8_t *w)
{
	uint8_t seen[256] = { 0 };
	int distinct = 0;

	for (int i = 0; i < WINDOW; i++) {
		if (!seen[w[i]]) {
			seen[w[i]] = 1;
			distinct++;
		}
	}
	return distinct < MIN_DISTINCT;
}

/* Where win occurs in a seen file, or -1. */
static int
find(const struct block *blocks, size_t nb, const struct file *seen, const uint8_t *win,
    uint64_t *where)
{
	for (size_t d = 0; d < 8; d++) {
		uint64_t key = load64(win + d);

		for (size_t i = lower_bound(blocks, nb, key); i < nb && blocks[i].v == key; i++) {
			const struct file *f = &seen[blocks[i].file];

			if (blocks[i].off < d || blocks[i].off - d + WINDOW > f->len)
				continue;
			if (memcmp(f->data + blocks[i].off - d, win, WINDOW) == 0) {
				*where = blocks[i].off - d;
				return (int)blocks[i].file;
			}
		}
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct file secrets[MAX_FILES], seen[MAX_FILES];
	size_t ns = 0, nv = 0, nb = 0, total = 0;
	struct block *blocks;
	int mode = 0, status = 0;

	if (eml_mem_init() != EML_OK)
		return 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--secret") == 0) {
			mode = 1;
		} else if (strcmp(argv[i], "--seen") == 0) {
			mode = 2;
		} else if (mode == 1 && ns < MAX_FILES) {
			if (read_file(argv[i], &secrets[ns++]) != 0)
				return 2;
		} else if (mode == 2 && nv < MAX_FILES) {
			if (read_file(argv[i], &seen[nv++]) != 0)
				return 2;
		} else {
			fprintf(stderr, "usage: confscan --secret FILE... --seen FILE...\n");
			return 2;
		}
	}
	if (ns == 0 || nv == 0) {
		fprintf(stderr, "usage: confscan --secret FILE... --seen FILE...\n");
		return 2;
	}
	for (size_t i = 0; i < nv; i++)
		total += seen[i].len / 8;
	blocks = eml_calloc(total == 0 ? 1 : total, sizeof(*blocks));
	if (blocks == NULL) {
		fprintf(stderr, "confscan: out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < nv; i++) {
		for (size_t off = 0; off + 8 <= seen[i].len; off += 8) {
			blocks[nb].v = load64(seen[i].data + off);
			blocks[nb].file = (uint32_t)i;
			blocks[nb].off = off;
			nb++;
		}
	}
	qsort(blocks, nb, sizeof(*blocks), cmp_block);
	total = 0;
	for (size_t i = 0; i < nv; i++)
		total += seen[i].len;

	for (size_t s = 0; s < ns; s++) {
		const struct file *f = &secrets[s];
		size_t checked = 0, leaks = 0;

		for (size_t i = 0; i + WINDOW <= f->len; i++) {
			uint64_t where = 0;
			int hit;

			if (low_entropy(f->data + i))
				continue;
			checked++;
			hit = find(blocks, nb, seen, f->data + i, &where);
			if (hit >= 0) {
				if (leaks < MAX_LEAKS_SHOWN)
					printf("confscan: LEAK: %s offset %zu found in %s at %llu\n",
					    f->path, i, seen[hit].path, (unsigned long long)where);
				leaks++;
			}
		}
		if (leaks != 0) {
			printf("confscan: LEAK: %s: %zu of %zu windows found\n", f->path, leaks,
			    checked);
			status = 1;
		} else if (checked == 0) {
			printf("confscan: VACUOUS: %s has no checkable %d-byte window\n", f->path,
			    WINDOW);
			status = 1;
		} else {
			printf("confscan: clean: %s (%zu windows) against %zu seen bytes in %zu files\n",
			    f->path, checked, total, nv);
		}
	}
	eml_free(blocks);
	for (size_t i = 0; i < ns; i++)
		eml_free(secrets[i].data);
	for (size_t i = 0; i < nv; i++)
		eml_free(seen[i].data);
	return status;
}

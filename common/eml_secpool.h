/*
 * A few secure blocks of one size kept for the next user instead of a
 * guarded mapping made and unmapped each time (eml_secure_alloc outside
 * an arena is sodium_malloc: mmap, mprotect of the guard pages, mlock,
 * then munlock and munmap, each mprotect and munmap of a multi-threaded
 * process a TLB shootdown on the other CPUs). What the pool keeps is
 * eml_secure_alloc memory (locked, guarded, not dumped), wiped when given
 * back. For short-lived secrets of a bounded size that many threads take
 * and give back, such as the proxy's read of a client hello (its API key).
 * Blocks never come from a session arena (eml_arena_use): they outlive it.
 */
#ifndef EML_SECPOOL_H
#define EML_SECPOOL_H

#include <pthread.h>
#include <stddef.h>

#include "eml_buf.h"

#define EML_SECPOOL_MAX 32

struct eml_secpool {
	pthread_mutex_t mu;
	size_t size; /* bytes of each block */
	size_t keep; /* at most this many kept (<= EML_SECPOOL_MAX) */
	size_t n; /* kept now */
	void *blk[EML_SECPOOL_MAX];
};

/* Empty; blocks of size bytes, at most keep of them kept. */
void eml_secpool_init(struct eml_secpool *p, size_t size, size_t keep);
/* Wipe and release every kept block. Nobody may use p any more. */
void eml_secpool_free(struct eml_secpool *p);
/* A zeroed block of p->size bytes, kept or new; NULL: out of memory. */
void *eml_secpool_take(struct eml_secpool *p);
/* Wipe blk (p->size bytes) and keep it, or release it when keep are kept
 * already. NULL is fine. */
void eml_secpool_give(struct eml_secpool *p, void *blk);
/* An empty secure buffer of at most p->size bytes over a block of p
 * (when none can be had, an ordinary eml_buf_init_secure, which
 * allocates when written). Give it back with eml_secpool_buf_give. */
void eml_secpool_buf(struct eml_secpool *p, struct eml_buf *b);
/* The buffer's block back to p (wiped); a buffer not over one of p's
 * blocks is eml_buf_free'd. b is left empty. */
void eml_secpool_buf_give(struct eml_secpool *p, struct eml_buf *b);

#endif

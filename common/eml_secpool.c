#include "eml_secpool.h"

#include <string.h>

#include "eml_mem.h"

void
eml_secpool_init(struct eml_secpool *p, size_t size, size_t keep)
{
	memset(p, 0, sizeof(*p));
	(void)pthread_mutex_init(&p->mu, NULL);
	p->size = size;
	p->keep = keep < EML_SECPOOL_MAX ? keep : EML_SECPOOL_MAX;
}

void
eml_secpool_free(struct eml_secpool *p)
{
	if (p == NULL)
		return;
	/* kept blocks are zero already; eml_secure_free wipes again */
	for (size_t i = 0; i < p->n; i++)
		eml_secure_free(p->blk[i]);
	p->n = 0;
	(void)pthread_mutex_destroy(&p->mu);
}

void *
eml_secpool_take(struct eml_secpool *p)
{
	void *b = NULL;

	(void)pthread_mutex_lock(&p->mu);
	if (p->n > 0)
		b = p->blk[--p->n];
	(void)pthread_mutex_unlock(&p->mu);
	if (b != NULL)
		return b;
	/* never an arena's block: it would outlive its arena in the pool */
	if (eml_arena_current() != NULL) {
		struct eml_arena *a = eml_arena_use(NULL);

		b = eml_secure_alloc(p->size);
		(void)eml_arena_use(a);
		return b;
	}
	return eml_secure_alloc(p->size);
}

void
eml_secpool_give(struct eml_secpool *p, void *blk)
{
	bool kept = false;

	if (blk == NULL)
		return;
	eml_wipe(blk, p->size);
	(void)pthread_mutex_lock(&p->mu);
	if (p->n < p->keep) {
		p->blk[p->n++] = blk;
		kept = true;
	}
	(void)pthread_mutex_unlock(&p->mu);
	if (!kept)
		eml_secure_free(blk);
}

void
eml_secpool_buf(struct eml_secpool *p, struct eml_buf *b)
{
	eml_buf_init_secure(b, p->size);
	b->data = eml_secpool_take(p);
	if (b->data != NULL)
		b->cap = p->size;
}

void
eml_secpool_buf_give(struct eml_secpool *p, struct eml_buf *b)
{
	/* A buffer of max p->size over a block of that size never grew into
	 * another allocation: its block is one of p's, or one of that size
	 * it made itself (none could be had), as good unless an arena's. */
	if (b->secure && b->data != NULL && b->cap == p->size && b->max == p->size &&
	    eml_arena_current() == NULL) {
		eml_secpool_give(p, b->data);
		b->data = NULL;
		b->len = b->cap = 0;
		return;
	}
	eml_buf_free(b);
}

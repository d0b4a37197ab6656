/*
 * handle.c - each connection's table of open handles.
 *
 * Handles on the wire are integers, never pointers (sftp-server's
 * handle_is_ok): the low 32 bits are the slot index plus one, the high 32
 * bits the slot's generation, bumped every time the slot is freed.  A
 * handle whose index is out of range, whose slot is of another type, or
 * whose generation is stale is simply not found, and the op gets EBADF.
 * Loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aiofsd.h"

#define HANDLE_INITIAL	16

/* Set up an empty table allowing at most max open handles. */
void
handle_table_init(struct handle_table *t, uint32_t max)
{
	memset(t, 0, sizeof *t);
	t->max = max;
}

/* Free the table's memory; the handles must already be closed. */
void
handle_table_free(struct handle_table *t)
{
	free(t->slots);
	memset(t, 0, sizeof *t);
}

/* Make the wire id of slot i. */
static uint64_t
handle_id(struct handle_table *t, uint32_t i)
{
	return (((uint64_t)t->slots[i].gen << 32) | (uint64_t)(i + 1));
}

/* Take a free slot for f.  Returns 0, or -1 with EMFILE at the limit. */
int
handle_alloc(struct handle_table *t, enum handle_type type, struct hfile *f,
    uint64_t *id)
{
	uint32_t	 i, n;

	if (t->used >= t->max) {
		errno = EMFILE;
		return (-1);
	}
	for (i = 0; i < t->nslots; i++)
		if (t->slots[i].type == HANDLE_FREE)
			break;
	if (i == t->nslots) {
		n = t->nslots == 0 ? HANDLE_INITIAL : t->nslots * 2;
		if (n > t->max)
			n = t->max;
		t->slots = xreallocarray(t->slots, n, sizeof *t->slots);
		memset(t->slots + t->nslots, 0,
		    (n - t->nslots) * sizeof *t->slots);
		for (; t->nslots < n; t->nslots++)
			t->slots[t->nslots].gen = 1;
	}
	t->slots[i].type = type;
	t->slots[i].busy = 0;
	t->slots[i].closing = 0;
	t->slots[i].f = f;
	TAILQ_INIT(&t->slots[i].waitq);
	t->used++;
	*id = handle_id(t, i);
	return (0);
}

/*
 * Find an open handle by wire id.  type HANDLE_FREE accepts any type.
 * Returns NULL for anything invalid: the caller replies EBADF.
 */
struct handle *
handle_get(struct handle_table *t, uint64_t id, enum handle_type type)
{
	uint32_t	 idx = (uint32_t)id, gen = (uint32_t)(id >> 32);
	struct handle	*h;

	if (idx == 0 || idx > t->nslots)
		return (NULL);
	h = &t->slots[idx - 1];
	if (h->type == HANDLE_FREE || h->gen != gen)
		return (NULL);
	if (type != HANDLE_FREE && h->type != type)
		return (NULL);
	return (h);
}

/* Free the slot of id; its generation moves on so the id goes stale. */
void
handle_release(struct handle_table *t, uint64_t id)
{
	struct handle	*h;

	if ((h = handle_get(t, id, HANDLE_FREE)) == NULL)
		return;
	h->type = HANDLE_FREE;
	h->f = NULL;
	h->busy = 0;
	h->closing = 0;
	if (++h->gen == 0)
		h->gen = 1;
	t->used--;
}

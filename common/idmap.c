/*
 * idmap.c - see idmap.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

/* Hash of an id (murmur3's finaliser: ids are often sequential). */
static size_t
idmap_hash(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return ((size_t)k & (cap - 1));
}

/* Insert k -> v (k not present; v not NULL).  Grows at 50% load. */
int
aiofs__idmap_put(struct aiofs__idmap *m, uint64_t k, void *v)
{
	struct aiofs__idmap	 old = *m;
	size_t			 i;

	if ((m->n + 1) * 2 > m->cap) {
		m->cap = old.cap == 0 ? 64 : old.cap * 2;
		m->keys = calloc(m->cap, sizeof *m->keys);
		m->vals = calloc(m->cap, sizeof *m->vals);
		if (m->keys == NULL || m->vals == NULL) {
			free(m->keys);
			free(m->vals);
			*m = old;
			return (-ENOMEM);
		}
		m->n = 0;
		for (i = 0; i < old.cap; i++)
			if (old.vals[i] != NULL)
				aiofs__idmap_put(m, old.keys[i], old.vals[i]);
		free(old.keys);
		free(old.vals);
	}
	for (i = idmap_hash(k, m->cap); m->vals[i] != NULL;
	    i = (i + 1) & (m->cap - 1))
		;
	m->keys[i] = k;
	m->vals[i] = v;
	m->n++;
	return (0);
}

/* The value of k, or NULL. */
void *
aiofs__idmap_get(const struct aiofs__idmap *m, uint64_t k)
{
	size_t	 i;

	if (m->cap == 0)
		return (NULL);
	for (i = idmap_hash(k, m->cap); m->vals[i] != NULL;
	    i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == k)
			return (m->vals[i]);
	return (NULL);
}

/* Remove k, shifting later entries of its run back. */
void
aiofs__idmap_del(struct aiofs__idmap *m, uint64_t k)
{
	size_t	 i, j, h;

	if (m->cap == 0)
		return;
	for (i = idmap_hash(k, m->cap); m->vals[i] != NULL;
	    i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == k)
			break;
	if (m->vals[i] == NULL)
		return;
	m->vals[i] = NULL;
	m->n--;
	for (j = (i + 1) & (m->cap - 1); m->vals[j] != NULL;
	    j = (j + 1) & (m->cap - 1)) {
		h = idmap_hash(m->keys[j], m->cap);
		/* Move j back to i unless its home lies in (i, j]. */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && (h <= i && h > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->vals[j] = NULL;
			i = j;
		}
	}
}

/* Free the map's memory. */
void
aiofs__idmap_free(struct aiofs__idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/*
 * idmap.h - request id -> pointer, open addressing with linear probing
 * and backward-shift deletion (no tombstones).  Used by the daemon (its
 * requests in flight per connection) and by libaiofs (its pending
 * requests), hence the internal aiofs__ prefix.
 */
#ifndef AIOFS_IDMAP_H
#define AIOFS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct aiofs__idmap {
	uint64_t	*keys;
	void		**vals;
	size_t		 cap;		/* a power of two, or 0 */
	size_t		 n;
};

int	 aiofs__idmap_put(struct aiofs__idmap *, uint64_t, void *);
void	*aiofs__idmap_get(const struct aiofs__idmap *, uint64_t);
void	 aiofs__idmap_del(struct aiofs__idmap *, uint64_t);
void	 aiofs__idmap_free(struct aiofs__idmap *);

#endif

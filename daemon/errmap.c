/*
 * errmap.c - the one errno table (libuv's UV_ERRNO_MAP): symbolic names for
 * the wire, messages for humans.  The client has its twin in aiofs.c; the
 * errmap test checks they agree with each other and with <errno.h>.
 */
#include <errno.h>
#include <string.h>

#include "aiofsd.h"
#include "errmap.h"

struct errmap_entry {
	int		 value;
	const char	*name;
	const char	*message;
};

static const struct errmap_entry errmap[] = {
#define XX(e, msg) { e, #e, msg },
	AIOFS_ERRNO_MAP(XX)
#undef XX
};

/* Symbolic name of errno e, "EUNKNOWN" if not in the table. */
const char *
errmap_name(int e)
{
	size_t	 i;

	for (i = 0; i < sizeof errmap / sizeof errmap[0]; i++)
		if (errmap[i].value == e)
			return (errmap[i].name);
	return ("EUNKNOWN");
}

/* Errno value for a symbolic name, or -1. */
int
errmap_value(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof errmap / sizeof errmap[0]; i++)
		if (strcmp(errmap[i].name, name) == 0)
			return (errmap[i].value);
	return (-1);
}

/* Human message for errno e. */
const char *
errmap_message(int e)
{
	size_t	 i;

	for (i = 0; i < sizeof errmap / sizeof errmap[0]; i++)
		if (errmap[i].value == e)
			return (errmap[i].message);
	return ("Unknown error");
}

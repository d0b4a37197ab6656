/*
 * xmalloc.c - allocators that never return NULL: running out of memory is
 * the one condition the daemon treats as fatal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiofsd.h"

/* malloc or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("xmalloc %zu", size);
	return (p);
}

/* calloc or die. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("xcalloc %zu x %zu", n, size);
	return (p);
}

/* realloc or die. */
void *
xrealloc(void *p, size_t size)
{
	if (size == 0)
		size = 1;
	if ((p = realloc(p, size)) == NULL)
		fatal("xrealloc %zu", size);
	return (p);
}

/* reallocarray or die, checking n * size for overflow. */
void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("xreallocarray overflow %zu x %zu", n, size);
	return (xrealloc(p, n * size));
}

/* strdup or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("xstrdup");
	return (p);
}

/* Copy len bytes into a new allocation with a NUL after them. */
void *
xmemdup(const void *src, size_t len)
{
	char	*p;

	p = xmalloc(len + 1);
	if (len != 0)
		memcpy(p, src, len);
	p[len] = '\0';
	return (p);
}

/* asprintf or die. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("xasprintf");
	return (n);
}

/*
 * mode.c - Python open() mode strings.
 *
 * The rules are CPython 3.11's _io.open(): exactly one of "r", "w", "x"
 * and "a", an optional "+", at most one of "b" and "t", each character at
 * most once and in any order ("b+r" is as good as "rb+"), nothing else.
 * "U" was removed in 3.11 and is rejected like any other stray character.
 * The empty string is an error ("Must have exactly one of create/read/
 * write/append mode"), as in Python; a NULL mode is an omitted argument
 * and means "r".
 *
 * canon is what Python reports as f.mode.  A binary file reports the mode
 * of its FileIO, which is rebuilt from the access it grants: "xb", "xb+",
 * "ab", "ab+", "rb+" (also for "w+b": FileIO calls any read-write file
 * "rb+"), "rb" and "wb".  A text file reports the string exactly as the
 * caller wrote it ("t+r" stays "t+r"), because TextIOWrapper.mode is set to
 * the argument itself.  Both were checked against python3.11 on Linux.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "aiofsd.h"

/* Parse a Python open() mode string; -1 with EINVAL if Python refuses it. */
int
mode_parse(const char *mode, struct fmode *fm)
{
	const char	*p;
	char		*c;
	int		 r = 0, w = 0, x = 0, a = 0, plus = 0, b = 0, t = 0;
	int		*seen;

	if (mode == NULL)
		mode = "r";
	for (p = mode; *p != '\0'; p++) {
		switch (*p) {
		case 'r':
			seen = &r;
			break;
		case 'w':
			seen = &w;
			break;
		case 'x':
			seen = &x;
			break;
		case 'a':
			seen = &a;
			break;
		case '+':
			seen = &plus;
			break;
		case 'b':
			seen = &b;
			break;
		case 't':
			seen = &t;
			break;
		default:
			goto bad;
		}
		if (*seen)
			goto bad;
		*seen = 1;
	}
	if (r + w + x + a != 1 || (b && t))
		goto bad;

	memset(fm, 0, sizeof *fm);
	fm->readable = r || plus;
	fm->writable = w || x || a || plus;
	fm->append = a;
	fm->text = !b;
	fm->create = w || x || a;
	fm->excl = x;
	fm->trunc = w;

	if (fm->readable && fm->writable)
		fm->oflags = O_RDWR;
	else if (fm->readable)
		fm->oflags = O_RDONLY;
	else
		fm->oflags = O_WRONLY;
	if (fm->create)
		fm->oflags |= O_CREAT;
	if (x)
		fm->oflags |= O_EXCL;
	if (w)
		fm->oflags |= O_TRUNC;
	if (a)
		fm->oflags |= O_APPEND;
	fm->oflags |= O_CLOEXEC|O_NOCTTY;

	if (fm->text) {
		/* At most three distinct characters got this far. */
		strncpy(fm->canon, mode, sizeof fm->canon - 1);
		return (0);
	}
	c = fm->canon;
	if (x)
		*c++ = 'x';
	else if (a)
		*c++ = 'a';
	else if (fm->readable)
		*c++ = 'r';
	else
		*c++ = 'w';
	*c++ = 'b';
	if (fm->readable && fm->writable)
		*c++ = '+';
	*c = '\0';
	return (0);

bad:
	errno = EINVAL;
	return (-1);
}

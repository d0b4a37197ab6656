/*
 * textio.c - text-mode decoding and encoding for one handle.
 *
 * This is the daemon's TextIOWrapper: it turns raw file bytes into text
 * and back exactly as CPython 3.11's open() would, but never does I/O
 * itself.  The caller reads raw bytes from the file, pushes them in with
 * textio_feed() and pulls characters or lines out with textio_take() and
 * textio_take_line(); for writing, textio_encode() turns the client's
 * UTF-8 into file bytes.
 *
 * Decoded text is kept as UTF-8 *untranslated*: newline translation
 * happens only when text is taken, so that we always know which raw bytes
 * the untaken text came from and text-mode tell() is simply the raw file
 * position minus textio_pending_raw().  To make that exact, the buffered
 * text is described by a queue of runs:
 *
 *   RUN_SAME	valid UTF-8 copied from a UTF-8 file: one raw byte per byte.
 *   RUN_ICONV	a stretch iconv decoded: tlen bytes of text from rlen raw
 *		bytes.  If a take cuts it, the raw size of the rest is
 *		found by encoding that rest again, which is exact for
 *		stateless encodings (and only an estimate for stateful ones
 *		such as ISO-2022-JP or UTF-7).
 *   RUN_FIXED	one U+FFFD that replaced rlen undecodable bytes, or no text
 *		at all for rlen bytes dropped by errors="ignore".  Dropped
 *		bytes count as part of the next character, or as consumed
 *		once everything has been taken at eof.  (Python's tell()
 *		places them by a guess from the last chunk's bytes per
 *		character; any clean position is as good, since seeking
 *		to it and reading on gives the same text.)
 *
 * UTF-8, the default and the common case, is decoded and validated here
 * without iconv, following Python's decoder to the byte: overlongs,
 * surrogates and code points above U+10FFFF are errors, and each "maximal
 * subpart" of an ill-formed sequence is one error (one U+FFFD under
 * errors="replace").  Other encodings go through iconv(3), where one error
 * is one code unit: 2 bytes for UTF-16, 4 for UTF-32, otherwise 1 (which
 * Python's own CJK codecs do not always agree with), and the mapping
 * tables are glibc's rather than Python's.
 *
 * Encodings whose byte stream depends on a byte order mark at the start of
 * the file ("utf-16", "utf-32", "utf-8-sig") are refused with EINVAL: on
 * writing, Python emits the BOM only at file offset 0, and nothing here
 * knows the offset.  Their explicit-endian forms ("utf-16-le") work.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aiofsd.h"

#define TEXTIO_NAME_MAX	64

enum run_kind {
	RUN_SAME,
	RUN_ICONV,
	RUN_FIXED
};

struct run {
	enum run_kind	 kind;
	size_t		 tlen;		/* bytes of decoded UTF-8 text */
	size_t		 rlen;		/* raw bytes (unused for RUN_SAME) */
};

struct textio {
	char			*name;		/* what f.encoding reports */
	int			 native;	/* UTF-8 without iconv */
	size_t			 unit;		/* bytes per iconv error */
	iconv_t			 dec;		/* file encoding to UTF-8 */
	iconv_t			 enc;		/* UTF-8 to file encoding */
	enum text_errors	 errors;
	enum text_newline	 newline;

	unsigned char		*raw;		/* not yet decodable */
	size_t			 rawlen;
	size_t			 rawcap;

	char			*text;		/* text is [toff, tlen) */
	size_t			 toff;
	size_t			 tlen;
	size_t			 tcap;

	struct run		*runs;		/* runs are [rhead, nruns) */
	size_t			 rhead;
	size_t			 nruns;
	size_t			 rcap;
	size_t			 roff;		/* bytes taken of runs[rhead] */
};

/* Python spellings of encodings, keyed by textio_key(). */
static const struct {
	const char	*key;
	const char	*iconv;		/* NULL: native UTF-8 */
} textio_aliases[] = {
	{ "utf8", NULL },
	{ "u8", NULL },
	{ "utf", NULL },
	{ "utf8ucs2", NULL },
	{ "utf8ucs4", NULL },
	{ "cp65001", NULL },
	{ "locale", NULL },
	{ "latin1", "ISO-8859-1" },
	{ "latin", "ISO-8859-1" },
	{ "l1", "ISO-8859-1" },
	{ "iso88591", "ISO-8859-1" },
	{ "iso885911987", "ISO-8859-1" },
	{ "8859", "ISO-8859-1" },
	{ "cp819", "ISO-8859-1" },
	{ "ibm819", "ISO-8859-1" },
	{ "ascii", "ASCII" },
	{ "usascii", "ASCII" },
	{ "646", "ASCII" },
	{ "utf16le", "UTF-16LE" },
	{ "utf16be", "UTF-16BE" },
	{ "utf32le", "UTF-32LE" },
	{ "utf32be", "UTF-32BE" },
	{ "utf7", "UTF-7" },
	{ "u7", "UTF-7" },
};

/* Encodings that need a BOM at offset 0; see the comment at the top. */
static const char *textio_refused[] = {
	"utf8sig", "utf16", "u16", "utf32", "u32", "unicode", "ucs2", "ucs4"
};

/* Make sure *buf has room for need elements of size sz. */
static int
textio_grow(void **buf, size_t *cap, size_t need, size_t sz)
{
	void	*p;
	size_t	 n;

	if (need <= *cap)
		return (0);
	n = *cap < 64 ? 64 : *cap;
	while (n < need) {
		if (n > SIZE_MAX / 2) {
			n = need;
			break;
		}
		n *= 2;
	}
	if (n > SIZE_MAX / sz) {
		errno = ENOMEM;
		return (-1);
	}
	if ((p = realloc(*buf, n * sz)) == NULL)
		return (-1);
	*buf = p;
	*cap = n;
	return (0);
}

/* Make room for n more bytes of text. */
static int
textio_reserve(struct textio *t, size_t n)
{
	void	*p = t->text;
	int	 rv;

	if (n > SIZE_MAX - t->tlen) {
		errno = ENOMEM;
		return (-1);
	}
	rv = textio_grow(&p, &t->tcap, t->tlen + n, 1);
	t->text = p;
	return (rv);
}

/* Return the length of the UTF-8 character that starts with byte c. */
static size_t
textio_u8len(unsigned char c)
{
	if (c < 0x80)
		return (1);
	if (c < 0xe0)
		return (2);
	if (c < 0xf0)
		return (3);
	return (4);
}

/*
 * Look at the UTF-8 character at p: return its length if it is valid, 0 if
 * the n bytes are a valid but incomplete start, or -1 with the length of
 * the maximal ill-formed subpart (Unicode 3.9, as Python counts) in *bad.
 */
static int
textio_u8char(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned char	 c = p[0], lo = 0x80, hi = 0xbf;
	size_t		 need, i;

	if (c < 0x80)
		return (1);
	if (c < 0xc2 || c > 0xf4) {
		*bad = 1;
		return (-1);
	}
	if (c < 0xe0)
		need = 2;
	else if (c < 0xf0) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	}
	for (i = 1; i < need; i++) {
		if (i == n)
			return (0);
		if (p[i] < lo || p[i] > hi) {
			*bad = i;
			return (-1);
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return ((int)need);
}

/* Fold an encoding name to Python's comparison key: lower case, no -_ . */
static void
textio_key(const char *name, char *key, size_t size)
{
	size_t	 i = 0;

	for (; *name != '\0'; name++) {
		if (*name == '-' || *name == '_' || *name == ' ')
			continue;
		if (i + 1 == size) {
			i = 0;
			break;
		}
		key[i++] = tolower((unsigned char)*name);
	}
	key[i] = '\0';
}

/* Open the iconv pair for name, trying Python's underscores as dashes. */
static int
textio_open_iconv(struct textio *t, const char *name)
{
	char	 alt[TEXTIO_NAME_MAX], *p;
	int	 error;

	t->dec = iconv_open("UTF-8", name);
	if (t->dec == (iconv_t)-1) {
		if (strlen(name) >= sizeof alt)
			goto bad;
		strncpy(alt, name, sizeof alt);
		for (p = alt; *p != '\0'; p++) {
			if (*p == '_')
				*p = '-';
		}
		name = alt;
		t->dec = iconv_open("UTF-8", name);
		if (t->dec == (iconv_t)-1)
			goto bad;
	}
	t->enc = iconv_open(name, "UTF-8");
	if (t->enc == (iconv_t)-1) {
		error = errno;
		iconv_close(t->dec);
		t->dec = (iconv_t)-1;
		errno = error;
		goto bad;
	}
	return (0);

bad:
	/* An unknown name is EINVAL; keep running out of memory or fds. */
	if (errno != ENOMEM && errno != EMFILE && errno != ENFILE)
		errno = EINVAL;
	return (-1);
}

/* Parse a Python errors= argument; only the three plain handlers exist. */
int
textio_parse_errors(const char *s, enum text_errors *out)
{
	if (s == NULL || *s == '\0' || strcmp(s, "strict") == 0)
		*out = TEXT_STRICT;
	else if (strcmp(s, "replace") == 0)
		*out = TEXT_REPLACE;
	else if (strcmp(s, "ignore") == 0)
		*out = TEXT_IGNORE;
	else {
		errno = EINVAL;
		return (-1);
	}
	return (0);
}

/* Parse a Python newline= argument; is_set is 0 for newline=None. */
int
textio_parse_newline(const char *s, int is_set, enum text_newline *out)
{
	if (!is_set || s == NULL)
		*out = NL_NONE;
	else if (*s == '\0')
		*out = NL_EMPTY;
	else if (strcmp(s, "\n") == 0)
		*out = NL_LF;
	else if (strcmp(s, "\r") == 0)
		*out = NL_CR;
	else if (strcmp(s, "\r\n") == 0)
		*out = NL_CRLF;
	else {
		errno = EINVAL;
		return (-1);
	}
	return (0);
}

/* Create a codec for encoding (NULL or "" for UTF-8); EINVAL if unknown. */
struct textio *
textio_new(const char *encoding, enum text_errors errors,
    enum text_newline newline)
{
	struct textio	*t;
	const char	*iname = NULL;
	char		 key[TEXTIO_NAME_MAX];
	size_t		 i;
	int		 native = 0;

	if ((unsigned)errors > TEXT_IGNORE || (unsigned)newline > NL_CRLF) {
		errno = EINVAL;
		return (NULL);
	}
	if (encoding == NULL || *encoding == '\0')
		encoding = "UTF-8";
	textio_key(encoding, key, sizeof key);
	for (i = 0; i < sizeof textio_refused / sizeof *textio_refused; i++) {
		if (strcmp(key, textio_refused[i]) == 0) {
			errno = EINVAL;
			return (NULL);
		}
	}
	iname = encoding;
	for (i = 0; i < sizeof textio_aliases / sizeof *textio_aliases; i++) {
		if (strcmp(key, textio_aliases[i].key) == 0) {
			iname = textio_aliases[i].iconv;
			native = iname == NULL;
			break;
		}
	}

	if ((t = calloc(1, sizeof *t)) == NULL)
		return (NULL);
	t->dec = t->enc = (iconv_t)-1;
	t->errors = errors;
	t->newline = newline;
	t->native = native;
	t->unit = 1;
	/* Python reports encoding="locale" as the locale's codec name. */
	if (strcmp(key, "locale") == 0)
		encoding = "UTF-8";
	if ((t->name = strdup(encoding)) == NULL)
		goto fail;
	if (!native) {
		if (textio_open_iconv(t, iname) == -1)
			goto fail;
		textio_key(iname, key, sizeof key);
		if (strncmp(key, "utf16", 5) == 0 ||
		    strncmp(key, "ucs2", 4) == 0)
			t->unit = 2;
		else if (strncmp(key, "utf32", 5) == 0 ||
		    strncmp(key, "ucs4", 4) == 0)
			t->unit = 4;
	}
	return (t);

fail:
	textio_free(t);
	return (NULL);
}

/* Free a codec and everything it buffers. */
void
textio_free(struct textio *t)
{
	int	 saved = errno;

	if (t == NULL)
		return;
	if (t->dec != (iconv_t)-1)
		iconv_close(t->dec);
	if (t->enc != (iconv_t)-1)
		iconv_close(t->enc);
	free(t->name);
	free(t->raw);
	free(t->text);
	free(t->runs);
	free(t);
	errno = saved;
}

/* Forget all buffered bytes and text, as after a seek. */
void
textio_reset(struct textio *t)
{
	t->rawlen = 0;
	t->toff = t->tlen = 0;
	t->rhead = t->nruns = t->roff = 0;
	if (!t->native)
		iconv(t->dec, NULL, NULL, NULL, NULL);
}

/* Account n bytes just placed at the end of the text as a run. */
static int
textio_commit(struct textio *t, enum run_kind kind, size_t tl, size_t rl)
{
	struct run	*r;
	void		*p;

	if (tl == 0 && rl == 0)
		return (0);
	if (tl == 0)
		kind = RUN_FIXED;
	if (t->nruns > t->rhead) {
		r = &t->runs[t->nruns - 1];
		if (r->kind == kind &&
		    (kind != RUN_FIXED || (r->tlen == 0 && tl == 0))) {
			r->tlen += tl;
			r->rlen += rl;
			t->tlen += tl;
			return (0);
		}
	}
	p = t->runs;
	if (textio_grow(&p, &t->rcap, t->nruns + 1, sizeof *t->runs) == -1)
		return (-1);
	t->runs = p;
	r = &t->runs[t->nruns++];
	r->kind = kind;
	r->tlen = tl;
	r->rlen = rl;
	t->tlen += tl;
	return (0);
}

/* Append tl bytes of text decoded from rl raw bytes. */
static int
textio_append(struct textio *t, enum run_kind kind, const void *s, size_t tl,
    size_t rl)
{
	if (tl != 0) {
		if (textio_reserve(t, tl) == -1)
			return (-1);
		memcpy(t->text + t->tlen, s, tl);
	}
	return (textio_commit(t, kind, tl, rl));
}

/* Apply the errors= policy to n undecodable raw bytes. */
static int
textio_decode_error(struct textio *t, size_t n)
{
	switch (t->errors) {
	case TEXT_REPLACE:
		return (textio_append(t, RUN_FIXED, "\xef\xbf\xbd", 3, n));
	case TEXT_IGNORE:
		return (textio_commit(t, RUN_FIXED, 0, n));
	default:
		errno = EILSEQ;
		return (-1);
	}
}

/* Decode the raw buffer as UTF-8; *used is how much of it was consumed. */
static int
textio_decode_utf8(struct textio *t, int eof, size_t *used)
{
	const unsigned char	*p = t->raw;
	size_t			 n = t->rawlen, i = 0, start = 0, bad = 0;
	int			 r;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((r = textio_u8char(p + i, n - i, &bad)) > 0) {
			i += r;
			continue;
		}
		if (r == 0 && !eof)
			break;
		if (r == 0)
			bad = n - i;
		if (textio_append(t, RUN_SAME, p + start, i - start,
		    i - start) == -1)
			return (-1);
		if (textio_decode_error(t, bad) == -1)
			return (-1);
		i += bad;
		start = i;
	}
	if (textio_append(t, RUN_SAME, p + start, i - start, i - start) == -1)
		return (-1);
	*used = i;
	return (0);
}

/* Decode the raw buffer with iconv; *used is how much was consumed. */
static int
textio_decode_iconv(struct textio *t, int eof, size_t *used)
{
	char	*in = (char *)t->raw, *in0, *out, *out0;
	size_t	 inleft = t->rawlen, outleft, want, n, bad;
	int	 error;

	want = inleft + 16;
	while (inleft > 0) {
		if (textio_reserve(t, want) == -1)
			return (-1);
		in0 = in;
		out0 = out = t->text + t->tlen;
		outleft = t->tcap - t->tlen;
		n = iconv(t->dec, &in, &inleft, &out, &outleft);
		error = errno;
		if (textio_commit(t, RUN_ICONV, out - out0, in - in0) == -1)
			return (-1);
		if (n != (size_t)-1)
			break;
		if (error == E2BIG) {
			want = (t->tcap - t->tlen) * 2 + 16;
			continue;
		}
		if (error == EINVAL && !eof)
			break;
		if (error == EINVAL)
			bad = inleft;
		else if (error == EILSEQ)
			bad = inleft < t->unit ? inleft : t->unit;
		else {
			errno = error;
			return (-1);
		}
		if (textio_decode_error(t, bad) == -1)
			return (-1);
		in += bad;
		inleft -= bad;
		want = inleft + 16;
	}
	*used = in - (char *)t->raw;
	return (0);
}

/* Move the untaken text and runs to the front of their buffers. */
static void
textio_compact(struct textio *t)
{
	if (t->toff != 0) {
		memmove(t->text, t->text + t->toff, t->tlen - t->toff);
		t->tlen -= t->toff;
		t->toff = 0;
	}
	if (t->rhead != 0) {
		memmove(t->runs, t->runs + t->rhead,
		    (t->nruns - t->rhead) * sizeof *t->runs);
		t->nruns -= t->rhead;
		t->rhead = 0;
	}
}

/*
 * Add len raw bytes (eof: and there are no more) and decode all that can
 * be.  On any error, EILSEQ under errors="strict" included, nothing
 * changes.
 */
int
textio_feed(struct textio *t, const void *buf, size_t len, int eof)
{
	struct run	 last;
	size_t		 rawlen, tlen, nruns, used = 0;
	void		*p;
	int		 rv, error;

	textio_compact(t);
	memset(&last, 0, sizeof last);
	rawlen = t->rawlen;
	tlen = t->tlen;
	nruns = t->nruns;
	if (nruns > 0)
		last = t->runs[nruns - 1];

	if (len > SIZE_MAX - t->rawlen) {
		errno = ENOMEM;
		return (-1);
	}
	p = t->raw;
	rv = textio_grow(&p, &t->rawcap, t->rawlen + len, 1);
	t->raw = p;
	if (rv == -1)
		return (-1);
	if (len != 0)
		memcpy(t->raw + t->rawlen, buf, len);
	t->rawlen += len;
	if (t->rawlen == 0)
		return (0);

	if (t->native)
		rv = textio_decode_utf8(t, eof, &used);
	else
		rv = textio_decode_iconv(t, eof, &used);
	if (rv == -1) {
		error = errno;
		t->rawlen = rawlen;
		t->tlen = tlen;
		t->nruns = nruns;
		if (nruns > 0)
			t->runs[nruns - 1] = last;
		if (!t->native)
			iconv(t->dec, NULL, NULL, NULL, NULL);
		errno = error;
		return (-1);
	}
	memmove(t->raw, t->raw + used, t->rawlen - used);
	t->rawlen -= used;
	return (0);
}

/*
 * Find how much untranslated text (*in bytes) makes up the next at most
 * limit characters, or with line set the next line of at most limit
 * characters, and how long it is translated (*out).  *complete is 1 when
 * the result is final: the limit was reached, a line ended, or eof.  A "\r"
 * at the end of the buffer is held back before eof whenever what follows
 * it matters, like Python's IncrementalNewlineDecoder.
 */
static void
textio_scan(struct textio *t, ssize_t limit, int eof, int line, size_t *in,
    size_t *out, int *complete)
{
	const unsigned char	*s = (const unsigned char *)t->text;
	size_t			 p = t->toff, end = t->tlen, o = 0, n = 0;
	size_t			 max, cl;
	enum text_newline	 nl = t->newline;
	int			 done = 0;

	max = limit < 0 ? SIZE_MAX : (size_t)limit;
	*complete = 0;
	while (!done) {
		if (n >= max) {
			*complete = 1;
			break;
		}
		if (p == end) {
			*complete = eof;
			break;
		}
		if (s[p] == '\r' && nl == NL_NONE) {
			/* "\r\n" and lone "\r" both become one "\n". */
			if (p + 1 == end && !eof)
				break;
			p += (p + 1 < end && s[p + 1] == '\n') ? 2 : 1;
			o++;
			n++;
			done = *complete = line;
			continue;
		}
		if (s[p] == '\r' && line && (nl == NL_EMPTY || nl == NL_CRLF)) {
			if (p + 1 == end && !eof) {
				/* Only if the limit ends the line here. */
				if (n + 1 >= max) {
					p++;
					o++;
					n++;
					*complete = 1;
				}
				break;
			}
			p++;
			o++;
			n++;
			if (p < end && s[p] == '\n') {
				if (n < max) {
					p++;
					o++;
					n++;
				}
				*complete = 1;
				break;
			}
			if (nl == NL_EMPTY) {
				*complete = 1;
				break;
			}
			continue;
		}
		if (line && ((s[p] == '\n' && nl != NL_CR && nl != NL_CRLF) ||
		    (s[p] == '\r' && nl == NL_CR))) {
			p++;
			o++;
			n++;
			*complete = 1;
			break;
		}
		cl = textio_u8len(s[p]);
		p += cl;
		o += cl;
		n++;
	}
	*in = p - t->toff;
	*out = o;
}

/* Drop in bytes of text from the front, with the runs they came from. */
static void
textio_consume(struct textio *t, size_t in, int eof)
{
	struct run	*r;
	size_t		 left = in, rem;

	t->toff += in;
	while (left > 0 && t->rhead < t->nruns) {
		r = &t->runs[t->rhead];
		rem = r->tlen - t->roff;
		if (left < rem) {
			t->roff += left;
			break;
		}
		left -= rem;
		t->rhead++;
		t->roff = 0;
	}
	if (t->toff == t->tlen) {
		t->toff = t->tlen = 0;
		/*
		 * Bytes dropped by errors="ignore" belong to the character
		 * after them; at eof there is none, and Python's tell() is
		 * then the end of what was read.
		 */
		if (eof && t->rawlen == 0)
			t->rhead = t->nruns = t->roff = 0;
	}
}

/* Take in bytes of text, translated to out bytes, as a new string. */
static int
textio_emit(struct textio *t, size_t in, size_t out, int eof, char **sp,
    size_t *lenp)
{
	const char	*s, *e, *cr;
	char		*buf, *b;

	*sp = NULL;
	*lenp = 0;
	if (in == 0) {
		textio_consume(t, 0, eof);
		return (0);
	}
	if ((buf = malloc(out + 1)) == NULL)
		return (-1);
	s = t->text + t->toff;
	e = s + in;
	if (t->newline != NL_NONE)
		memcpy(buf, s, in);
	else {
		b = buf;
		while ((cr = memchr(s, '\r', e - s)) != NULL) {
			memcpy(b, s, cr - s);
			b += cr - s;
			*b++ = '\n';
			s = cr + 1;
			if (s < e && *s == '\n')
				s++;
		}
		memcpy(b, s, e - s);
	}
	buf[out] = '\0';
	textio_consume(t, in, eof);
	*sp = buf;
	*lenp = out;
	return (0);
}

/*
 * Take at most nchars characters (all if negative) of translated text as
 * a NUL-terminated malloc'd string, or NULL if there is none.  Fewer than
 * nchars before eof means feed more and call again; eof here means eof was
 * already given to textio_feed().
 */
int
textio_take(struct textio *t, ssize_t nchars, int eof, char **sp,
    size_t *lenp)
{
	size_t	 in, out;
	int	 complete;

	textio_scan(t, nchars, eof, 0, &in, &out, &complete);
	/* read(0) reads nothing, so it cannot reach eof either. */
	return (textio_emit(t, in, out, eof && nchars != 0, sp, lenp));
}

/*
 * Take one line of at most limit characters (no limit if negative), like
 * readline().  *complete is 0 if it needs more input, and then nothing is
 * taken; at eof it is always 1, with an empty result once the text is
 * exhausted.
 */
int
textio_take_line(struct textio *t, ssize_t limit, int eof, char **sp,
    size_t *lenp, int *complete)
{
	size_t	 in, out;

	*sp = NULL;
	*lenp = 0;
	textio_scan(t, limit, eof, 1, &in, &out, complete);
	if (!*complete)
		return (0);
	return (textio_emit(t, in, out, eof && limit != 0, sp, lenp));
}

/* Count the bytes n bytes of UTF-8 take in the file encoding, or -1. */
static int64_t
textio_raw_size(struct textio *t, const char *s, size_t n)
{
	char	 buf[256], *in = (char *)s, *out;
	size_t	 outleft, rv;
	int64_t	 total = 0;

	iconv(t->enc, NULL, NULL, NULL, NULL);
	for (;;) {
		out = buf;
		outleft = sizeof buf;
		if (n > 0)
			rv = iconv(t->enc, &in, &n, &out, &outleft);
		else
			rv = iconv(t->enc, NULL, NULL, &out, &outleft);
		total += out - buf;
		if (rv != (size_t)-1 && n == 0)
			break;
		if (rv == (size_t)-1 && errno != E2BIG) {
			total = -1;
			break;
		}
	}
	iconv(t->enc, NULL, NULL, NULL, NULL);
	return (total);
}

/*
 * Count the raw file bytes behind everything not yet taken, so that
 * text-mode tell() is the raw position minus this.
 */
int64_t
textio_pending_raw(struct textio *t)
{
	struct run	*r;
	size_t		 i, pos = t->toff, rem;
	int64_t		 total = t->rawlen, n;

	for (i = t->rhead; i < t->nruns; i++) {
		r = &t->runs[i];
		rem = r->tlen - (i == t->rhead ? t->roff : 0);
		switch (r->kind) {
		case RUN_SAME:
			total += rem;
			break;
		case RUN_FIXED:
			total += r->rlen;
			break;
		case RUN_ICONV:
			if (rem == r->tlen) {
				total += r->rlen;
				break;
			}
			n = textio_raw_size(t, t->text + pos, rem);
			if (n == -1 || (uint64_t)n > r->rlen) {
				/* Not round-trippable: estimate. */
				n = (int64_t)((double)r->rlen * rem / r->tlen);
			}
			total += n;
			break;
		}
		pos += rem;
	}
	return (total);
}

/* Return how many bytes of decoded text are buffered. */
size_t
textio_buffered(struct textio *t)
{
	return (t->tlen - t->toff);
}

/* Return the encoding name Python would report as f.encoding. */
const char *
textio_encoding(struct textio *t)
{
	return (t->name);
}

/* Run a whole input through iconv, growing the output buffer as needed. */
static int
textio_iconv_all(iconv_t cd, char **in, size_t *inleft, char **buf,
    size_t *cap, size_t *len)
{
	void	*p;
	char	*out;
	size_t	 outleft, rv;
	int	 error;

	for (;;) {
		if (*cap - *len < 16) {
			p = *buf;
			if (textio_grow(&p, cap, *cap * 2 + 16, 1) == -1)
				return (-1);
			*buf = p;
		}
		out = *buf + *len;
		outleft = *cap - *len;
		if (in != NULL)
			rv = iconv(cd, in, inleft, &out, &outleft);
		else
			rv = iconv(cd, NULL, NULL, &out, &outleft);
		error = errno;
		*len = out - *buf;
		if (rv != (size_t)-1)
			return (0);
		if (error != E2BIG) {
			errno = error;
			return (-1);
		}
		p = *buf;
		if (textio_grow(&p, cap, *cap * 2 + 16, 1) == -1)
			return (-1);
		*buf = p;
	}
}

/* Encode UTF-8 text from the client (and its newlines) for the file. */
int
textio_encode(struct textio *t, const void *src, size_t len, char **sp,
    size_t *lenp)
{
	const unsigned char	*s = src;
	char			*mid, *buf = NULL, *in, *q;
	size_t			 i, j = 0, bad = 0, cap, blen = 0;
	size_t			 inleft, qleft;
	int			 r;

	*sp = NULL;
	*lenp = 0;
	if (len > (SIZE_MAX - 1) / 2) {
		errno = ENOMEM;
		return (-1);
	}
	/* Only "\n" to "\r\n" grows the text; "?" replaces at least 1. */
	if ((mid = malloc((t->newline == NL_CRLF ? len * 2 : len) + 1)) == NULL)
		return (-1);
	for (i = 0; i < len;) {
		if (s[i] == '\n' && t->newline == NL_CR) {
			mid[j++] = '\r';
			i++;
			continue;
		}
		if (s[i] == '\n' && t->newline == NL_CRLF) {
			mid[j++] = '\r';
			mid[j++] = '\n';
			i++;
			continue;
		}
		if ((r = textio_u8char(s + i, len - i, &bad)) > 0) {
			memcpy(mid + j, s + i, r);
			i += r;
			j += r;
			continue;
		}
		/*
		 * The client cannot send ill-formed UTF-8 from a Python str,
		 * except a lone surrogate encoded with "surrogatepass": that
		 * is one character, and one "?" under errors="replace".
		 */
		if (r == 0)
			bad = len - i;
		else if (s[i] == 0xed && len - i >= 3 && s[i + 1] >= 0xa0 &&
		    s[i + 1] <= 0xbf && s[i + 2] >= 0x80 && s[i + 2] <= 0xbf)
			bad = 3;
		if (t->errors == TEXT_STRICT) {
			free(mid);
			errno = EILSEQ;
			return (-1);
		}
		if (t->errors == TEXT_REPLACE)
			mid[j++] = '?';
		i += bad;
	}
	mid[j] = '\0';
	if (t->native) {
		if (j == 0)
			free(mid);
		else {
			*sp = mid;
			*lenp = j;
		}
		return (0);
	}

	cap = j * 2 + 16;
	if ((buf = malloc(cap)) == NULL)
		goto fail;
	iconv(t->enc, NULL, NULL, NULL, NULL);
	in = mid;
	inleft = j;
	while (inleft > 0) {
		if (textio_iconv_all(t->enc, &in, &inleft, &buf, &cap,
		    &blen) == 0)
			break;
		if (errno != EILSEQ && errno != EINVAL)
			goto fail;
		/* A character the encoding cannot represent. */
		if (t->errors == TEXT_STRICT) {
			errno = EILSEQ;
			goto fail;
		}
		if (t->errors == TEXT_REPLACE) {
			q = "?";
			qleft = 1;
			if (textio_iconv_all(t->enc, &q, &qleft, &buf, &cap,
			    &blen) == -1 && errno == ENOMEM)
				goto fail;
		}
		bad = textio_u8len((unsigned char)*in);
		if (bad > inleft)
			bad = inleft;
		in += bad;
		inleft -= bad;
	}
	if (textio_iconv_all(t->enc, NULL, NULL, &buf, &cap, &blen) == -1)
		goto fail;
	iconv(t->enc, NULL, NULL, NULL, NULL);
	free(mid);
	if (blen == 0)
		free(buf);
	else {
		*sp = buf;
		*lenp = blen;
	}
	return (0);

fail:
	r = errno;
	iconv(t->enc, NULL, NULL, NULL, NULL);
	free(mid);
	free(buf);
	errno = r;
	return (-1);
}

/*
 * frame.c - length-prefixed framing: a 4-byte big-endian length, then that
 * many bytes of one protobuf message.  Pure functions over buffers, so the
 * fuzzer and the unit tests can drive them without a socket.
 *
 * The length is checked against the negotiated maximum before anything is
 * allocated for the body (sftp-server's process()).
 */
#include <arpa/inet.h>

#include <string.h>

#include "aiofsd.h"

/* Look at buf: is a whole frame there?  Sets *body to the body length. */
enum frame_status
frame_peek(const uint8_t *buf, size_t len, uint32_t max, uint32_t *body)
{
	uint32_t	 n;

	if (len < 4)
		return (FRAME_INCOMPLETE);
	n = ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) |
	    ((uint32_t)buf[2] << 8) | (uint32_t)buf[3];
	*body = n;
	if (n > max)
		return (FRAME_TOO_LARGE);
	if (len - 4 < n)
		return (FRAME_INCOMPLETE);
	return (FRAME_OK);
}

/*
 * Find the next whole frame at the head of in.  On FRAME_OK, *body points
 * at the contiguous body (valid until in is changed) and *len is its size;
 * the caller drains 4 + *len bytes when done with it.
 */
enum frame_status
frame_next(struct evbuffer *in, uint32_t max, const uint8_t **body,
    size_t *len)
{
	uint8_t			 hdr[4];
	uint32_t		 n;
	enum frame_status	 st;
	size_t			 have = evbuffer_get_length(in);

	if (have < 4)
		return (FRAME_INCOMPLETE);
	evbuffer_copyout(in, hdr, 4);
	st = frame_peek(hdr, 4, max, &n);
	if (st == FRAME_TOO_LARGE)
		return (st);
	if (have - 4 < n)
		return (FRAME_INCOMPLETE);
	*len = n;
	*body = evbuffer_pullup(in, 4 + (ssize_t)n);
	if (*body == NULL)
		return (FRAME_INCOMPLETE);
	*body += 4;
	return (FRAME_OK);
}

/* Store n as a 4-byte big-endian length. */
void
frame_put_header(uint8_t *p, uint32_t n)
{
	p[0] = n >> 24;
	p[1] = n >> 16;
	p[2] = n >> 8;
	p[3] = n;
}

/* Pack resp as one frame at the end of out.  Returns 0 or -1. */
int
frame_write(struct evbuffer *out, const Response *resp)
{
	struct evbuffer_iovec	 v;
	size_t			 n;

	n = aiofs__v1__response__get_packed_size(resp);
	if (n > UINT32_MAX - 4)
		return (-1);
	if (evbuffer_reserve_space(out, 4 + n, &v, 1) != 1)
		return (-1);
	frame_put_header(v.iov_base, n);
	aiofs__v1__response__pack(resp, (uint8_t *)v.iov_base + 4);
	v.iov_len = 4 + n;
	return (evbuffer_commit_space(out, &v, 1));
}

/* Append a protobuf varint to p; returns the bytes used. */
static size_t
frame_varint(uint8_t *p, uint64_t v)
{
	size_t	 n = 0;

	do {
		p[n] = v & 0x7f;
		v >>= 7;
		if (v != 0)
			p[n] |= 0x80;
		n++;
	} while (v != 0);
	return (n);
}

/*
 * Encode the header of Response{id, more, data: Data{eof, data}} for a
 * payload of len bytes into hdr (FRAME_DATA_HDR_MAX bytes): the frame
 * length, the envelope and the Data message up to the payload, which
 * follows it on the wire.  The encoding is exactly what protobuf-c would
 * produce (fields in any order are valid; eof comes before data so that
 * the payload is last).  Returns the header's length, or 0 if the frame
 * would be too large.
 */
size_t
frame_data_header(uint8_t *hdr, uint64_t id, int more, size_t len, int eof)
{
	uint8_t		 inner[16];
	size_t		 h = 4, in = 0, datamsg;

	/* Data message: [eof] + tag(1,LEN) + varint(len) + payload. */
	if (eof) {
		inner[in++] = 0x10;
		inner[in++] = 1;
	}
	inner[in++] = 0x0a;
	in += frame_varint(inner + in, len);
	datamsg = in + len;

	hdr[h++] = 0x08;			/* id */
	h += frame_varint(hdr + h, id);
	if (more) {
		hdr[h++] = 0x10;		/* more */
		hdr[h++] = 1;
	}
	hdr[h++] = 0x3a;			/* field 7, data */
	h += frame_varint(hdr + h, datamsg);
	memcpy(hdr + h, inner, in);
	h += in;
	if (len > UINT32_MAX || h - 4 + len > UINT32_MAX)
		return (0);
	frame_put_header(hdr, h - 4 + len);
	return (h);
}

/*
 * Write Response{id, more, data: Data{eof, data}} without copying data:
 * the header is encoded by hand (frame_data_header) and the payload is
 * added by reference, so it goes from the worker's buffer straight to the
 * socket.  cleanup(data, len, arg) is called when libevent no longer needs
 * the payload.
 */
int
frame_write_data(struct evbuffer *out, uint64_t id, int more, void *data,
    size_t len, int eof, void (*cleanup)(const void *, size_t, void *),
    void *arg)
{
	uint8_t		 hdr[FRAME_DATA_HDR_MAX];
	size_t		 h;

	if ((h = frame_data_header(hdr, id, more, len, eof)) == 0)
		return (-1);
	if (evbuffer_add(out, hdr, h) == -1)
		return (-1);
	if (len == 0) {
		if (cleanup != NULL)
			cleanup(data, len, arg);
		return (0);
	}
	if (cleanup == NULL)
		return (evbuffer_add(out, data, len));
	return (evbuffer_add_reference(out, data, len, cleanup, arg));
}

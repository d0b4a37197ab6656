/*
 * frame_fuzzer.c - libFuzzer target for what the daemon does with bytes
 * from a client before any op runs: frame_peek() and frame_next() cut the
 * stream into frames (fed in pieces, as recvmsg delivers them), each body
 * goes through aiofs__v1__request__unpack() and is freed, as conn.c does.
 * Decoded requests are packed again and, if that decodes, must be the same
 * request; the same bodies are also given to the client's Response parser.
 *
 * Build and run from the top of the tree, after a normal build (for the
 * generated build/proto/aiofs.pb-c.[ch]):
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *	    -Idaemon -Icommon -Ibuild/proto \
 *	    tests/fuzz/frame_fuzzer.c daemon/frame.c build/proto/aiofs.pb-c.c \
 *	    $(pkg-config --cflags --libs libevent_core libprotobuf-c) \
 *	    -o build/frame_fuzzer
 *	mkdir -p build/frame_corpus
 *	build/frame_fuzzer -max_total_time=60 build/frame_corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aiofsd.h"

#define FUZZ_MAX_FRAME	(64U * 1024)	/* keeps memory per input small */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One body, as conn_process() handles it; plus a round trip. */
static void
fuzz_body(const uint8_t *body, size_t len)
{
	Request		*m, *m2;
	Response	*r;
	uint8_t		*buf;
	size_t		 n;

	if ((m = aiofs__v1__request__unpack(NULL, len, body)) != NULL) {
		n = aiofs__v1__request__get_packed_size(m);
		buf = malloc(n + 1);
		if (buf == NULL)
			abort();
		if (aiofs__v1__request__pack(m, buf) != n)
			abort();
		/*
		 * protobuf-c keeps unknown fields it was lenient about (a
		 * non-minimal tag of field 0) and then refuses them when they
		 * come back minimal, so a repack may not decode; when it
		 * does, it must be the same request.
		 */
		m2 = aiofs__v1__request__unpack(NULL, n, buf);
		if (m2 != NULL) {
			if (m2->id != m->id || m2->op_case != m->op_case)
				abort();
			aiofs__v1__request__free_unpacked(m2, NULL);
		}
		free(buf);
		aiofs__v1__request__free_unpacked(m, NULL);
	}
	/* The client parses the daemon's frames with the same code. */
	if ((r = aiofs__v1__response__unpack(NULL, len, body)) != NULL)
		aiofs__v1__response__free_unpacked(r, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer		*in;
	const uint8_t		*body;
	size_t			 len, off, step;
	uint32_t		 n, peeked = 0;
	enum frame_status	 st, pst;

	if (size == 0)
		return (0);
	/* The first byte picks how the stream is split into reads. */
	step = (data[0] % 16) + 1;
	if (data[0] & 0x80)
		step = size;
	data++;
	size--;

	/* frame_peek on the flat buffer, for every prefix length < 8. */
	for (len = 0; len < 8 && len <= size; len++) {
		st = frame_peek(data, len, FUZZ_MAX_FRAME, &n);
		if (len < 4 && st != FRAME_INCOMPLETE)
			abort();
	}

	if ((in = evbuffer_new()) == NULL)
		abort();
	off = 0;
	while (off < size) {
		len = size - off < step ? size - off : step;
		if (evbuffer_add(in, data + off, len) != 0)
			abort();
		off += len;
		for (;;) {
			/* Whatever frame_next says, frame_peek must agree. */
			uint8_t	 hdr[4];
			size_t	 have = evbuffer_get_length(in);

			st = frame_next(in, FUZZ_MAX_FRAME, &body, &len);
			if (have >= 4) {
				evbuffer_copyout(in, hdr, 4);
				pst = frame_peek(hdr, 4, FUZZ_MAX_FRAME,
				    &peeked);
				if (pst == FRAME_TOO_LARGE &&
				    st != FRAME_TOO_LARGE)
					abort();
			}
			if (st == FRAME_TOO_LARGE) {
				/* The daemon drops the connection here. */
				if (have < 4 || peeked <= FUZZ_MAX_FRAME)
					abort();
				goto out;
			}
			if (st == FRAME_INCOMPLETE)
				break;
			if (len > FUZZ_MAX_FRAME || 4 + len > have)
				abort();
			fuzz_body(body, len);
			evbuffer_drain(in, 4 + len);
		}
	}
out:
	evbuffer_free(in);
	return (0);
}

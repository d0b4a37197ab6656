/*
 * check_frame.c - frame.c: the length prefix, frame_next() over an
 * evbuffer, and the hand-written Data encoding of frame_write_data(),
 * which must decode with protobuf-c exactly as if protobuf-c had packed it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "testutil.h"

/* A frame header plus body in one malloc'd buffer. */
static uint8_t *
mkframe(uint32_t n, const void *body, size_t bodylen)
{
	uint8_t	*p = malloc(4 + bodylen + 1);

	ck_assert_ptr_nonnull(p);
	frame_put_header(p, n);
	if (bodylen > 0)
		memcpy(p + 4, body, bodylen);
	return (p);
}

START_TEST(test_peek_short)
{
	uint8_t		 buf[4] = { 0, 0, 0, 0 };
	uint32_t	 body = 12345;
	size_t		 len;

	for (len = 0; len < 4; len++)
		ck_assert_int_eq(frame_peek(buf, len, 1024, &body),
		    FRAME_INCOMPLETE);
	/* Nothing was decoded from a partial header. */
	ck_assert_uint_eq(body, 12345);
}
END_TEST

START_TEST(test_peek_header_byte_order)
{
	uint8_t		 hdr[4];
	uint32_t	 body = 0;

	frame_put_header(hdr, 0x01020304);
	ck_assert_uint_eq(hdr[0], 0x01);
	ck_assert_uint_eq(hdr[1], 0x02);
	ck_assert_uint_eq(hdr[2], 0x03);
	ck_assert_uint_eq(hdr[3], 0x04);
	ck_assert_int_eq(frame_peek(hdr, 4, UINT32_MAX, &body),
	    FRAME_INCOMPLETE);
	ck_assert_uint_eq(body, 0x01020304);
}
END_TEST

START_TEST(test_peek_exact)
{
	uint8_t		*f = mkframe(5, "hello", 5);
	uint32_t	 body = 0;

	ck_assert_int_eq(frame_peek(f, 9, 1024, &body), FRAME_OK);
	ck_assert_uint_eq(body, 5);
	/* Trailing bytes of the next frame do not matter. */
	ck_assert_int_eq(frame_peek(f, 10, 1024, &body), FRAME_OK);
	ck_assert_uint_eq(body, 5);
	free(f);
}
END_TEST

START_TEST(test_peek_partial_body)
{
	uint8_t		*f = mkframe(5, "hello", 5);
	uint32_t	 body = 0;
	size_t		 len;

	for (len = 4; len < 9; len++) {
		ck_assert_int_eq(frame_peek(f, len, 1024, &body),
		    FRAME_INCOMPLETE);
		ck_assert_uint_eq(body, 5);
	}
	free(f);
}
END_TEST

START_TEST(test_peek_zero_length)
{
	uint8_t		*f = mkframe(0, NULL, 0);
	uint32_t	 body = 99;

	ck_assert_int_eq(frame_peek(f, 4, 1024, &body), FRAME_OK);
	ck_assert_uint_eq(body, 0);
	ck_assert_int_eq(frame_peek(f, 4, 0, &body), FRAME_OK);
	ck_assert_uint_eq(body, 0);
	free(f);
}
END_TEST

START_TEST(test_peek_max_boundary)
{
	uint8_t		 hdr[4];
	uint32_t	 body = 0;

	/* Exactly max is allowed (still waiting for the body)... */
	frame_put_header(hdr, 1024);
	ck_assert_int_eq(frame_peek(hdr, 4, 1024, &body), FRAME_INCOMPLETE);
	ck_assert_uint_eq(body, 1024);
	/* ...one more is too large, known from the header alone. */
	frame_put_header(hdr, 1025);
	ck_assert_int_eq(frame_peek(hdr, 4, 1024, &body), FRAME_TOO_LARGE);
	ck_assert_uint_eq(body, 1025);
}
END_TEST

START_TEST(test_peek_too_large_ffffffff)
{
	uint8_t		 hdr[4] = { 0xff, 0xff, 0xff, 0xff };
	uint32_t	 body = 0;

	ck_assert_int_eq(frame_peek(hdr, 4, AIOFS_MAX_MSG, &body),
	    FRAME_TOO_LARGE);
	ck_assert_uint_eq(body, 0xffffffffU);
	/* Even the largest possible max does not make it fit in 4 bytes. */
	ck_assert_int_eq(frame_peek(hdr, 4, UINT32_MAX, &body),
	    FRAME_INCOMPLETE);
}
END_TEST

START_TEST(test_next_too_large_before_body)
{
	struct evbuffer		*in = evbuffer_new();
	uint8_t			 hdr[4];
	const uint8_t		*body = NULL;
	size_t			 len = 0;

	frame_put_header(hdr, AIOFS_MAX_MSG + 1);
	evbuffer_add(in, hdr, 4);
	ck_assert_int_eq(frame_next(in, AIOFS_MAX_MSG, &body, &len),
	    FRAME_TOO_LARGE);
	frame_put_header(hdr, 0xffffffffU);
	evbuffer_drain(in, 4);
	evbuffer_add(in, hdr, 4);
	ck_assert_int_eq(frame_next(in, AIOFS_MAX_MSG, &body, &len),
	    FRAME_TOO_LARGE);
	/* Nothing was consumed: the caller decides. */
	ck_assert_uint_eq(evbuffer_get_length(in), 4);
	evbuffer_free(in);
}
END_TEST

START_TEST(test_next_byte_by_byte)
{
	struct evbuffer		*in = evbuffer_new();
	uint8_t			 stream[4 + 11 + 4 + 0 + 4 + 300];
	uint8_t			 big[300];
	size_t			 total = 0, i, len, done = 0;
	const uint8_t		*body;
	enum frame_status	 st;
	const size_t		 want[3] = { 11, 0, 300 };

	for (i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	frame_put_header(stream, 11);
	memcpy(stream + 4, "first frame", 11);
	frame_put_header(stream + 15, 0);
	frame_put_header(stream + 19, 300);
	memcpy(stream + 23, big, 300);
	total = sizeof stream;

	for (i = 0; i < total; i++) {
		evbuffer_add(in, stream + i, 1);
		for (;;) {
			st = frame_next(in, 1024, &body, &len);
			ck_assert_int_ne(st, FRAME_TOO_LARGE);
			if (st == FRAME_INCOMPLETE)
				break;
			ck_assert_uint_lt(done, 3);
			ck_assert_uint_eq(len, want[done]);
			if (done == 0)
				ck_assert_mem_eq(body, "first frame", 11);
			else if (done == 2)
				ck_assert_mem_eq(body, big, 300);
			evbuffer_drain(in, 4 + len);
			done++;
		}
		/* A frame is complete exactly when its last byte arrives. */
		if (i + 1 < 15)
			ck_assert_uint_eq(done, 0);
		else if (i + 1 < 19)
			ck_assert_uint_eq(done, 1);
		else if (i + 1 < total)
			ck_assert_uint_eq(done, 2);
	}
	ck_assert_uint_eq(done, 3);
	ck_assert_uint_eq(evbuffer_get_length(in), 0);
	evbuffer_free(in);
}
END_TEST

START_TEST(test_next_spans_chains)
{
	struct evbuffer		*in = evbuffer_new();
	uint8_t			 hdr[4], *payload;
	const uint8_t		*body;
	size_t			 len, n = 200000, i;

	/* Body added in many separate pieces: pullup must join them. */
	payload = malloc(n);
	for (i = 0; i < n; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	frame_put_header(hdr, n);
	evbuffer_add(in, hdr, 4);
	for (i = 0; i < n; i += 997)
		evbuffer_add(in, payload + i, n - i < 997 ? n - i : 997);
	ck_assert_int_eq(frame_next(in, AIOFS_MAX_MSG, &body, &len),
	    FRAME_OK);
	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(body, payload, n);
	free(payload);
	evbuffer_free(in);
}
END_TEST

/* Pull the single frame out of out and decode it. */
static Response *
decode_one(struct evbuffer *out)
{
	const uint8_t	*body;
	size_t		 len;
	Response	*r;
	uint32_t	 hlen;
	uint8_t		 hdr[4];
	enum frame_status st;

	ck_assert_uint_ge(evbuffer_get_length(out), 4);
	evbuffer_copyout(out, hdr, 4);
	st = frame_peek(hdr, 4, UINT32_MAX, &hlen);
	ck_assert_int_eq(st, hlen == 0 ? FRAME_OK : FRAME_INCOMPLETE);
	/* The header counts exactly the bytes that follow it. */
	ck_assert_uint_eq(hlen + 4, evbuffer_get_length(out));
	ck_assert_int_eq(frame_next(out, UINT32_MAX, &body, &len), FRAME_OK);
	ck_assert_uint_eq(len, hlen);
	r = aiofs__v1__response__unpack(NULL, len, body);
	ck_assert_ptr_nonnull(r);
	evbuffer_drain(out, 4 + len);
	return (r);
}

START_TEST(test_write_roundtrip)
{
	struct evbuffer		*out = evbuffer_new();
	Response		 resp = AIOFS__V1__RESPONSE__INIT;
	Aiofs__V1__Error	 err = AIOFS__V1__ERROR__INIT;
	Aiofs__V1__StatReply	 st = AIOFS__V1__STAT_REPLY__INIT;
	Response		*r;

	resp.has_id = 1;
	resp.id = 0x123456789abcdefULL;
	resp.has_more = 1;
	resp.more = 1;
	err.has_errno_value = 1;
	err.errno_value = ENOENT;
	err.name = "ENOENT";
	err.message = "No such file or directory";
	err.has_path = 1;
	err.path.data = (uint8_t *)"a/b\0c";
	err.path.len = 5;
	resp.result_case = AIOFS__V1__RESPONSE__RESULT_ERROR;
	resp.error = &err;
	ck_assert_int_eq(frame_write(out, &resp), 0);

	resp.id = 7;
	resp.more = 0;
	st.has_size = st.has_mode = 1;
	st.size = -1;
	st.mode = 0100644;
	resp.result_case = AIOFS__V1__RESPONSE__RESULT_STAT;
	resp.stat = &st;
	ck_assert_int_eq(frame_write(out, &resp), 0);

	/* Two frames back to back: take the first, then the second. */
	{
		const uint8_t	*body;
		size_t		 len;

		ck_assert_int_eq(frame_next(out, UINT32_MAX, &body, &len),
		    FRAME_OK);
		r = aiofs__v1__response__unpack(NULL, len, body);
		ck_assert_ptr_nonnull(r);
		evbuffer_drain(out, 4 + len);
	}
	ck_assert_uint_eq(r->id, 0x123456789abcdefULL);
	ck_assert(r->more);
	ck_assert_int_eq(r->result_case, AIOFS__V1__RESPONSE__RESULT_ERROR);
	ck_assert_int_eq(r->error->errno_value, ENOENT);
	ck_assert_str_eq(r->error->name, "ENOENT");
	ck_assert_str_eq(r->error->message, "No such file or directory");
	ck_assert_uint_eq(r->error->path.len, 5);
	ck_assert_mem_eq(r->error->path.data, "a/b\0c", 5);
	aiofs__v1__response__free_unpacked(r, NULL);

	r = decode_one(out);
	ck_assert_uint_eq(r->id, 7);
	ck_assert(!r->more);
	ck_assert_int_eq(r->result_case, AIOFS__V1__RESPONSE__RESULT_STAT);
	ck_assert_int_eq(r->stat->size, -1);
	ck_assert_uint_eq(r->stat->mode, 0100644);
	aiofs__v1__response__free_unpacked(r, NULL);
	ck_assert_uint_eq(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}
END_TEST

START_TEST(test_write_empty_response)
{
	struct evbuffer	*out = evbuffer_new();
	Response	 resp = AIOFS__V1__RESPONSE__INIT;
	Response	*r;
	uint8_t		 hdr[4];

	ck_assert_int_eq(frame_write(out, &resp), 0);
	ck_assert_uint_eq(evbuffer_get_length(out), 4);
	evbuffer_copyout(out, hdr, 4);
	ck_assert_mem_eq(hdr, "\0\0\0\0", 4);
	r = decode_one(out);
	ck_assert_int_eq(r->result_case,
	    AIOFS__V1__RESPONSE__RESULT__NOT_SET);
	aiofs__v1__response__free_unpacked(r, NULL);
	evbuffer_free(out);
}
END_TEST

static int	cleanup_calls;
static const void *cleanup_data;
static size_t	cleanup_len;
static void	*cleanup_arg;

/* Records that libevent released a payload. */
static void
record_cleanup(const void *data, size_t len, void *arg)
{
	cleanup_calls++;
	cleanup_data = data;
	cleanup_len = len;
	cleanup_arg = arg;
}

/* frame_write_data, decoded, must give back exactly what was put in. */
static void
check_data(uint64_t id, int more, size_t len, int eof, int by_ref)
{
	struct evbuffer	*out = evbuffer_new();
	uint8_t		*data = NULL;
	Response	*r;
	size_t		 i;
	int		 marker;

	if (len > 0) {
		data = malloc(len);
		ck_assert_ptr_nonnull(data);
		for (i = 0; i < len; i++)
			data[i] = (uint8_t)((i * 131) ^ (i >> 11));
	}
	cleanup_calls = 0;
	ck_assert_int_eq(frame_write_data(out, id, more, data, len, eof,
	    by_ref ? record_cleanup : NULL, &marker), 0);
	r = decode_one(out);
	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->more != 0, more != 0);
	ck_assert_int_eq(r->result_case, AIOFS__V1__RESPONSE__RESULT_DATA);
	ck_assert_ptr_nonnull(r->data);
	ck_assert_int_eq(r->data->eof != 0, eof != 0);
	ck_assert(r->data->has_data);
	ck_assert_uint_eq(r->data->data.len, len);
	if (len > 0)
		ck_assert_mem_eq(r->data->data.data, data, len);
	aiofs__v1__response__free_unpacked(r, NULL);
	ck_assert_uint_eq(evbuffer_get_length(out), 0);
	if (by_ref) {
		/* Drained: libevent let go of the payload, exactly once. */
		ck_assert_int_eq(cleanup_calls, 1);
		ck_assert_ptr_eq(cleanup_data, data);
		ck_assert_uint_eq(cleanup_len, len);
		ck_assert_ptr_eq(cleanup_arg, &marker);
	}
	evbuffer_free(out);
	free(data);
}

START_TEST(test_write_data_matrix)
{
	static const size_t	 lens[] = { 0, 1, 127, 128, 16383, 16384,
	    65535, 1024 * 1024, 1024 * 1024 + 1 };
	static const uint64_t	 ids[] = { 0, 1, 127, 128, 300,
	    0xffffffffULL, UINT64_MAX };
	size_t			 l, i;
	int			 more, eof;

	for (l = 0; l < sizeof lens / sizeof lens[0]; l++)
		for (more = 0; more <= 1; more++)
			for (eof = 0; eof <= 1; eof++)
				check_data(42, more, lens[l], eof, 1);
	for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		check_data(ids[i], 1, 10, 0, 0);
		check_data(ids[i], 0, 0, 1, 1);
	}
}
END_TEST

START_TEST(test_write_data_same_as_protobuf_c)
{
	struct evbuffer		*out = evbuffer_new();
	Response		 resp = AIOFS__V1__RESPONSE__INIT;
	Aiofs__V1__Data		 d = AIOFS__V1__DATA__INIT;
	uint8_t			*mine, *theirs, payload[1000];
	size_t			 nmine, ntheirs, i;

	/*
	 * Byte for byte the same as protobuf-c's packing when eof is unset
	 * (with eof set, field order legitimately differs).
	 */
	for (i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)i;
	ck_assert_int_eq(frame_write_data(out, 300, 1, payload,
	    sizeof payload, 0, NULL, NULL), 0);
	nmine = evbuffer_get_length(out);
	mine = malloc(nmine);
	evbuffer_remove(out, mine, nmine);

	resp.has_id = resp.has_more = 1;
	resp.id = 300;
	resp.more = 1;
	d.has_data = 1;
	d.data.data = payload;
	d.data.len = sizeof payload;
	resp.result_case = AIOFS__V1__RESPONSE__RESULT_DATA;
	resp.data = &d;
	ck_assert_int_eq(frame_write(out, &resp), 0);
	ntheirs = evbuffer_get_length(out);
	theirs = malloc(ntheirs);
	evbuffer_remove(out, theirs, ntheirs);

	ck_assert_uint_eq(nmine, ntheirs);
	ck_assert_mem_eq(mine, theirs, nmine);
	free(mine);
	free(theirs);
	evbuffer_free(out);
}
END_TEST

/*
 * A spliced chunk's header is written alone and its payload follows from
 * a pipe: header + payload must be frame_write_data's frame, byte for byte.
 */
static void
check_header(struct evbuffer *out, const uint8_t *payload, uint64_t id,
    int more, size_t len, int eof)
{
	uint8_t		 hdr[FRAME_DATA_HDR_MAX], *theirs;
	size_t		 h, n;

	h = frame_data_header(hdr, id, more, len, eof);
	ck_assert_uint_gt(h, 4);
	ck_assert_uint_le(h, FRAME_DATA_HDR_MAX);
	ck_assert_int_eq(frame_write_data(out, id, more, (void *)payload, len,
	    eof, NULL, NULL), 0);
	n = evbuffer_get_length(out);
	ck_assert_uint_eq(n, h + len);
	theirs = evbuffer_pullup(out, -1);
	ck_assert(memcmp(theirs, hdr, h) == 0);
	ck_assert(len == 0 || memcmp(theirs + h, payload, len) == 0);
	evbuffer_drain(out, n);
}

START_TEST(test_data_header_for_splice)
{
	static const size_t	 lens[] = { 0, 1, 127, 128, 65536,
	    1024 * 1024 - 50, 1024 * 1024 };
	static const uint64_t	 ids[] = { 1, 300, UINT64_MAX };
	struct evbuffer		*out = evbuffer_new();
	uint8_t			 hdr[FRAME_DATA_HDR_MAX], *payload;
	size_t			 l, i;
	int			 flags;

	payload = malloc(1024 * 1024);
	ck_assert_ptr_nonnull(payload);
	for (i = 0; i < 1024 * 1024; i++)
		payload[i] = (uint8_t)(i * 7);
	for (l = 0; l < sizeof lens / sizeof lens[0]; l++) {
		for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
			for (flags = 0; flags < 4; flags++)
				check_header(out, payload, ids[i], flags & 1,
				    lens[l], flags & 2);
		}
	}
	/* Too large for one frame: refused, not wrapped. */
	ck_assert_uint_eq(frame_data_header(hdr, 1, 0, UINT32_MAX, 0), 0);
	ck_assert_uint_eq(frame_data_header(hdr, 1, 0,
	    (size_t)UINT32_MAX + 1, 0), 0);
	free(payload);
	evbuffer_free(out);
}
END_TEST

START_TEST(test_write_data_cleanup_on_zero_length)
{
	struct evbuffer	*out = evbuffer_new();
	char		 dummy;

	/* Nothing to reference: cleanup runs at once. */
	cleanup_calls = 0;
	ck_assert_int_eq(frame_write_data(out, 1, 0, &dummy, 0, 1,
	    record_cleanup, NULL), 0);
	ck_assert_int_eq(cleanup_calls, 1);
	ck_assert_ptr_eq(cleanup_data, &dummy);
	evbuffer_free(out);
}
END_TEST

START_TEST(test_write_data_reference_kept)
{
	struct evbuffer	*out = evbuffer_new();
	uint8_t		*data = malloc(4096);

	memset(data, 'z', 4096);
	cleanup_calls = 0;
	ck_assert_int_eq(frame_write_data(out, 5, 0, data, 4096, 0,
	    record_cleanup, NULL), 0);
	/* Still queued: the payload must not have been released. */
	ck_assert_int_eq(cleanup_calls, 0);
	evbuffer_drain(out, 10);
	ck_assert_int_eq(cleanup_calls, 0);
	evbuffer_free(out);
	ck_assert_int_eq(cleanup_calls, 1);
	free(data);
}
END_TEST

Suite *
frame_suite(void)
{
	Suite	*s = suite_create("frame");
	TCase	*tc = tcase_create("peek");

	tcase_add_test(tc, test_peek_short);
	tcase_add_test(tc, test_peek_header_byte_order);
	tcase_add_test(tc, test_peek_exact);
	tcase_add_test(tc, test_peek_partial_body);
	tcase_add_test(tc, test_peek_zero_length);
	tcase_add_test(tc, test_peek_max_boundary);
	tcase_add_test(tc, test_peek_too_large_ffffffff);
	suite_add_tcase(s, tc);

	tc = tcase_create("next");
	tcase_add_test(tc, test_next_too_large_before_body);
	tcase_add_test(tc, test_next_byte_by_byte);
	tcase_add_test(tc, test_next_spans_chains);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_write_roundtrip);
	tcase_add_test(tc, test_write_empty_response);
	tcase_add_test(tc, test_write_data_matrix);
	tcase_add_test(tc, test_write_data_same_as_protobuf_c);
	tcase_add_test(tc, test_data_header_for_splice);
	tcase_add_test(tc, test_write_data_cleanup_on_zero_length);
	tcase_add_test(tc, test_write_data_reference_kept);
	suite_add_tcase(s, tc);
	return (s);
}

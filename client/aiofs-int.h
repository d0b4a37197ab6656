/*
 * aiofs-int.h - libaiofs internals (aiofs__ prefix, libuv's uv__).
 */
#ifndef AIOFS_INT_H
#define AIOFS_INT_H

#include "aiofs.h"
#include "aiofs.pb-c.h"
#include "idmap.h"

#define AIOFS__MAX_FDS		64
#define AIOFS__DEFAULT_FRAME	(16U * 1024 * 1024)

enum {
	AIOFS__REQ_IDLE = 0,
	AIOFS__REQ_PENDING,
	AIOFS__REQ_DONE
};

enum {
	AIOFS__CONNECTING = 0,
	AIOFS__HELLO,
	AIOFS__READY,
	AIOFS__BROKEN
};

struct aiofs__sendfd {
	uint64_t	 at;		/* stream offset of its frame */
	int		 fd;		/* ours (dup'd); closed once sent */
};

struct aiofs {
	int		 fd;
	int		 state;
	int		 error;		/* sticky: -EPROTO, -ECONNRESET */

	uint8_t		*out;		/* unsent bytes [outoff, outlen) */
	size_t		 outoff;
	size_t		 outlen;
	size_t		 outcap;
	uint64_t	 out_sent;	/* total bytes ever sent */
	struct aiofs__sendfd sendfds[AIOFS__MAX_FDS];
	int		 nsendfds;

	uint8_t		*in;
	size_t		 inlen;
	size_t		 incap;
	int		 recvfds[AIOFS__MAX_FDS];
	int		 nrecvfds;

	int		 reading;	/* in aiofs__read: callbacks run */
	uint64_t	 next_id;
	struct aiofs__idmap pending;	/* id -> aiofs_req_t */
	unsigned	 npending;	/* user-visible requests */

	char		*server_version;
	char		*root;
	char		**caps;
	size_t		 ncaps;
	uint32_t	 max_frame;
	uint32_t	 max_chunk;
	uint32_t	 max_inflight;
	aiofs_req_t	 hello;
	/* A Data payload being received straight into its request. */
	aiofs_req_t	*direct_req;
	uint64_t	 direct_id;
	char		*direct_dst;
	size_t		 direct_left;
	size_t		 direct_len;
	int		 direct_more;
	int		 direct_eof;

	void		(*want_write)(aiofs_t *, void *);
	void		*want_write_arg;	/* aiofs-event.c */
	void		*next_user_buf;	/* readinto: for aiofs__req_init */
	size_t		 next_user_cap;
};

int	 aiofs__submit(aiofs_t *, aiofs_req_t *, aiofs_op_t,
	     Aiofs__V1__Request *, aiofs_cb);
int	 aiofs__submit_fd(aiofs_t *, aiofs_req_t *, aiofs_op_t,
	     Aiofs__V1__Request *, int, aiofs_cb);
int	 aiofs__submit_parts(aiofs_t *, aiofs_req_t *, aiofs_op_t,
	     Aiofs__V1__Request **, size_t, aiofs_cb);
int	 aiofs__flush(aiofs_t *);
void	 aiofs__req_init(aiofs_req_t *, aiofs_t *, aiofs_op_t, aiofs_cb);
ProtobufCBinaryData aiofs__bin(const char *);

#endif

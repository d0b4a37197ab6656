/*
 * fdpass.c - see fdpass.h.
 */
#include <sys/socket.h>

#include <string.h>

#include "fdpass.h"

/*
 * sendmsg(iov) on sock with fd attached as SCM_RIGHTS to its first byte,
 * without blocking.  Returns what sendmsg returns; the fd is the
 * caller's to close once any byte went.
 */
ssize_t
aiofs__sendmsg_fd(int sock, const struct iovec *iov, int iovcnt, int fd)
{
	struct msghdr	 mh;
	struct cmsghdr	*cm;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cmsg;

	memset(&mh, 0, sizeof mh);
	memset(&cmsg, 0, sizeof cmsg);
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = iovcnt;
	mh.msg_control = cmsg.buf;
	mh.msg_controllen = sizeof cmsg.buf;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT));
}

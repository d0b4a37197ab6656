/*
 * fdpass.h - sending one fd with a message over a Unix socket, for the
 * daemon (OpenFd replies) and libaiofs (Wrap requests).
 */
#ifndef AIOFS_FDPASS_H
#define AIOFS_FDPASS_H

#include <sys/types.h>
#include <sys/uio.h>

ssize_t	 aiofs__sendmsg_fd(int, const struct iovec *, int, int);

#endif

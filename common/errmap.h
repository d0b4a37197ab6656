/*
 * errmap.h - the errno table shared by the daemon and libaiofs.  Messages
 * are glibc's strerror() texts so that CLI output reads as users expect.
 */
#ifndef AIOFS_ERRMAP_H
#define AIOFS_ERRMAP_H

#define AIOFS_ERRNO_MAP(XX)						\
	XX(EPERM, "Operation not permitted")				\
	XX(ENOENT, "No such file or directory")				\
	XX(ESRCH, "No such process")					\
	XX(EINTR, "Interrupted system call")				\
	XX(EIO, "Input/output error")					\
	XX(ENXIO, "No such device or address")				\
	XX(E2BIG, "Argument list too long")				\
	XX(EBADF, "Bad file descriptor")				\
	XX(EAGAIN, "Resource temporarily unavailable")			\
	XX(ENOMEM, "Cannot allocate memory")				\
	XX(EACCES, "Permission denied")					\
	XX(EFAULT, "Bad address")					\
	XX(EBUSY, "Device or resource busy")				\
	XX(EEXIST, "File exists")					\
	XX(EXDEV, "Invalid cross-device link")				\
	XX(ENODEV, "No such device")					\
	XX(ENOTDIR, "Not a directory")					\
	XX(EISDIR, "Is a directory")					\
	XX(EINVAL, "Invalid argument")					\
	XX(ENFILE, "Too many open files in system")			\
	XX(EMFILE, "Too many open files")				\
	XX(ENOTTY, "Inappropriate ioctl for device")			\
	XX(ETXTBSY, "Text file busy")					\
	XX(EFBIG, "File too large")					\
	XX(ENOSPC, "No space left on device")				\
	XX(ESPIPE, "Illegal seek")					\
	XX(EROFS, "Read-only file system")				\
	XX(EMLINK, "Too many links")					\
	XX(EPIPE, "Broken pipe")					\
	XX(ERANGE, "Numerical result out of range")			\
	XX(EDEADLK, "Resource deadlock avoided")			\
	XX(ENAMETOOLONG, "File name too long")				\
	XX(ENOLCK, "No locks available")				\
	XX(ENOSYS, "Function not implemented")				\
	XX(ENOTEMPTY, "Directory not empty")				\
	XX(ELOOP, "Too many levels of symbolic links")			\
	XX(ENODATA, "No data available")				\
	XX(EPROTO, "Protocol error")					\
	XX(EOVERFLOW, "Value too large for defined data type")		\
	XX(EILSEQ, "Invalid or incomplete multibyte or wide character")	\
	XX(ENOTSOCK, "Socket operation on non-socket")			\
	XX(EMSGSIZE, "Message too long")				\
	XX(EOPNOTSUPP, "Operation not supported")			\
	XX(EADDRINUSE, "Address already in use")			\
	XX(ECONNRESET, "Connection reset by peer")			\
	XX(ENOBUFS, "No buffer space available")			\
	XX(ETIMEDOUT, "Connection timed out")				\
	XX(ECONNREFUSED, "Connection refused")				\
	XX(ESTALE, "Stale file handle")					\
	XX(EDQUOT, "Disk quota exceeded")				\
	XX(EUSERS, "Too many users")					\
	XX(ECANCELED, "Operation canceled")

#endif /* AIOFS_ERRMAP_H */

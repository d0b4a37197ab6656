/*
 * aiofs-event.c - drive a connection from a libevent event_base.
 */
#include <poll.h>
#include <stdlib.h>

#include <event2/event.h>

#include "aiofs-int.h"

struct aiofs__ev {
	aiofs_t		*h;
	struct event	*ev_read;
	struct event	*ev_write;
};

/* Readable or writable: let the library do its I/O and callbacks. */
static void
aiofs__ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aiofs__ev	*e = arg;
	int			 rev = 0;

	(void)fd;
	if (what & EV_READ)
		rev |= POLLIN;
	if (what & EV_WRITE)
		rev |= POLLOUT;
	aiofs_process(e->h, rev);
	if ((aiofs_events(e->h) & POLLOUT) && e->ev_write != NULL)
		event_add(e->ev_write, NULL);
}

/* The library has unsent output: wait for the socket to take it. */
static void
aiofs__ev_want_write(aiofs_t *h, void *arg)
{
	struct aiofs__ev	*e = arg;

	(void)h;
	event_add(e->ev_write, NULL);
}

/*
 * Attach h to base.  Returns the read event (pass it to
 * aiofs_event_detach()), or NULL.
 */
struct event *
aiofs_event_attach(aiofs_t *h, struct event_base *base)
{
	struct aiofs__ev	*e;

	if ((e = calloc(1, sizeof *e)) == NULL)
		return (NULL);
	e->h = h;
	e->ev_read = event_new(base, h->fd, EV_READ | EV_PERSIST,
	    aiofs__ev_cb, e);
	e->ev_write = event_new(base, h->fd, EV_WRITE, aiofs__ev_cb, e);
	if (e->ev_read == NULL || e->ev_write == NULL ||
	    event_add(e->ev_read, NULL) == -1) {
		if (e->ev_read != NULL)
			event_free(e->ev_read);
		if (e->ev_write != NULL)
			event_free(e->ev_write);
		free(e);
		return (NULL);
	}
	h->want_write = aiofs__ev_want_write;
	h->want_write_arg = e;
	if (aiofs_events(h) & POLLOUT)
		event_add(e->ev_write, NULL);
	return (e->ev_read);
}

/* Detach: free the events (the connection itself is not closed). */
void
aiofs_event_detach(struct event *ev)
{
	struct aiofs__ev	*e;

	if (ev == NULL)
		return;
	e = event_get_callback_arg(ev);
	e->h->want_write = NULL;
	e->h->want_write_arg = NULL;
	event_free(e->ev_read);
	event_free(e->ev_write);
	free(e);
}

/*
 * stats.c - counters for the Stats request: connections, bytes, and per
 * op counts, errors and a latency histogram.  The daemon-wide ones
 * (struct stats_global) are atomics; the others are per loop, written by
 * their loop with relaxed atomics, and summed over the loops when read.
 *
 * Latencies go into log-linear buckets: four per power of two of
 * nanoseconds, so a percentile is known to within 25%, in a fixed 1 KiB
 * per op.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "aiofsd.h"

#define STATS_BUCKETS	256
#define STATS_MAXOPS	64

struct stats_global	 stats;

struct stats_op {
	uint64_t	 count;
	uint64_t	 errors;
	uint32_t	 buckets[STATS_BUCKETS];
};

/* One loop's per-op counters (loop_init). */
struct stats_op *
stats_ops_new(void)
{
	return (xcalloc(STATS_MAXOPS, sizeof(struct stats_op)));
}

/* Monotonic clock in nanoseconds. */
uint64_t
stats_now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* Bucket of a latency. */
static unsigned
stats_bucket(uint64_t ns)
{
	unsigned	 msb, sub;

	if (ns < 4)
		return ((unsigned)ns);
	msb = 63 - __builtin_clzll(ns);
	sub = (ns >> (msb - 2)) & 3;
	return (msb * 4 + sub);
}

/* Lower bound of a bucket, in nanoseconds. */
static double
stats_bucket_ns(unsigned b)
{
	unsigned	 msb = b / 4, sub = b % 4;

	if (b < 4)
		return (b);
	return ((double)((uint64_t)(4 + sub) << (msb - 2)));
}

/* Count one finished request of table index op. */
void
stats_record(int op, int error, uint64_t ns)
{
	struct stats_op	*s;

	if (op < 0 || op >= STATS_MAXOPS)
		return;
	s = &loop_self->ops[op];
	__atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
	if (error != 0 && error != ECANCELED)
		__atomic_add_fetch(&s->errors, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->buckets[stats_bucket(ns)], 1,
	    __ATOMIC_RELAXED);
}

/* Op op's counters, summed over the loops, into sum. */
static void
stats_op_sum(int op, struct stats_op *sum)
{
	const struct stats_op	*s;
	uint64_t		 n;
	unsigned		 i, b;

	memset(sum, 0, sizeof *sum);
	for (i = 0; i < nloops; i++) {
		s = &loops[i].ops[op];
		if ((n = __atomic_load_n(&s->count, __ATOMIC_RELAXED)) == 0)
			continue;
		sum->count += n;
		sum->errors += __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
		for (b = 0; b < STATS_BUCKETS; b++)
			sum->buckets[b] += __atomic_load_n(&s->buckets[b],
			    __ATOMIC_RELAXED);
	}
}

/* A per-loop counter (at off in struct loop_stats), summed. */
static uint64_t
stats_loop_sum(size_t off)
{
	uint64_t	 n = 0;
	unsigned	 i;

	for (i = 0; i < nloops; i++)
		n += __atomic_load_n((uint64_t *)((char *)&loops[i].st + off),
		    __ATOMIC_RELAXED);
	return (n);
}
#define LOOP_SUM(f)	stats_loop_sum(offsetof(struct loop_stats, f))

/* The q-quantile of an op's latency, in microseconds. */
static double
stats_quantile(const struct stats_op *s, double q)
{
	uint64_t	 want, seen = 0;
	unsigned	 b;

	if (s->count == 0)
		return (0);
	want = (uint64_t)(q * (double)s->count);
	if (want >= s->count)
		want = s->count - 1;
	for (b = 0; b < STATS_BUCKETS; b++) {
		seen += s->buckets[b];
		if (seen > want)
			return (stats_bucket_ns(b) / 1000.0);
	}
	return (0);
}

/* Fill a StatsReply; allocations go to req's arena. */
void
stats_fill(Aiofs__V1__StatsReply *r, struct req *req)
{
	const struct op	*table;
	size_t		 nops, i, n = 0;
	Aiofs__V1__OpStats *os;
	struct stats_op	 sum;

	aiofs__v1__stats_reply__init(r);
	r->has_uptime_s = 1;
	r->uptime_s = (double)(stats_now_ns() - stats.start_ns) / 1e9;
	r->has_connections_current = r->has_connections_total = 1;
	r->has_connections_rejected = r->has_inflight = 1;
	r->has_queue_depth = r->has_workers = r->has_workers_busy = 1;
	r->has_bytes_in = r->has_bytes_out = r->has_requests_total = 1;
	r->has_protocol_errors = r->has_loop_completed = 1;
	r->has_loop_punted = 1;
	r->connections_current = STAT_GET(conns_current);
	r->connections_total = STAT_GET(conns_total);
	r->connections_rejected = STAT_GET(conns_rejected);
	r->inflight = STAT_GET(inflight);
	r->queue_depth = pool_queued();
	r->workers = pool_size();
	r->workers_busy = pool_busy();
	r->bytes_in = LOOP_SUM(bytes_in);
	r->bytes_out = LOOP_SUM(bytes_out);
	r->requests_total = LOOP_SUM(requests);
	r->protocol_errors = LOOP_SUM(protocol_errors);
	r->loop_completed = LOOP_SUM(loop_done);
	r->loop_punted = LOOP_SUM(loop_punted);
	r->n_loop_connections = nloops;
	r->loop_connections = req_alloc(req, nloops *
	    sizeof *r->loop_connections);
	for (i = 0; i < nloops; i++)
		r->loop_connections[i] = __atomic_load_n(&loops[i].nlive,
		    __ATOMIC_RELAXED);

	table = dispatch_table(&nops);
	if (nops > STATS_MAXOPS)
		nops = STATS_MAXOPS;
	r->ops = req_alloc(req, nops * sizeof *r->ops);
	os = req_alloc(req, nops * sizeof *os);
	for (i = 0; i < nops; i++) {
		stats_op_sum(i, &sum);
		if (sum.count == 0)
			continue;
		aiofs__v1__op_stats__init(&os[n]);
		os[n].op = (char *)table[i].name;
		os[n].has_count = os[n].has_errors = 1;
		os[n].has_p50_us = os[n].has_p99_us = os[n].has_p999_us = 1;
		os[n].count = sum.count;
		os[n].errors = sum.errors;
		os[n].p50_us = stats_quantile(&sum, 0.50);
		os[n].p99_us = stats_quantile(&sum, 0.99);
		os[n].p999_us = stats_quantile(&sum, 0.999);
		r->ops[n] = &os[n];
		n++;
	}
	r->n_ops = n;
}

/*
 * check_handle.c - handle.c: typed, generation-checked handle slots.
 * Ids are (gen << 32) | (index + 1); anything forged, stale or of the
 * wrong type must simply not be found.
 */
#include <errno.h>
#include <stdint.h>

#include <check.h>

#include "testutil.h"

/* Distinct fake hfile pointers: the table never dereferences them. */
static struct hfile *
fake(uintptr_t n)
{
	return ((struct hfile *)(0x1000 + n * 16));
}

#define IDX(id)	((uint32_t)(id))
#define GEN(id)	((uint32_t)((id) >> 32))

START_TEST(test_alloc_get_release)
{
	struct handle_table	 t;
	struct handle		*h;
	uint64_t		 id = 0;

	handle_table_init(&t, 8);
	ck_assert_uint_eq(t.used, 0);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(1), &id), 0);
	ck_assert_uint_ne(id, 0);
	ck_assert_uint_ne(IDX(id), 0);
	ck_assert_uint_ne(GEN(id), 0);
	ck_assert_uint_eq(t.used, 1);

	h = handle_get(&t, id, HANDLE_FILE);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(h->f, fake(1));
	ck_assert_int_eq(h->type, HANDLE_FILE);
	ck_assert_int_eq(h->busy, 0);
	ck_assert_int_eq(h->closing, 0);
	ck_assert(TAILQ_EMPTY(&h->waitq));
	/* HANDLE_FREE means "any type". */
	ck_assert_ptr_eq(handle_get(&t, id, HANDLE_FREE), h);

	handle_release(&t, id);
	ck_assert_uint_eq(t.used, 0);
	ck_assert_ptr_null(handle_get(&t, id, HANDLE_FILE));
	ck_assert_ptr_null(handle_get(&t, id, HANDLE_FREE));
	handle_table_free(&t);
}
END_TEST

START_TEST(test_distinct_ids)
{
	struct handle_table	 t;
	uint64_t		 ids[50];
	size_t			 i, j;

	handle_table_init(&t, 100);
	/* Past HANDLE_INITIAL: the table grows, old ids stay valid. */
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(i),
		    &ids[i]), 0);
	for (i = 0; i < 50; i++) {
		struct handle *h = handle_get(&t, ids[i], HANDLE_FILE);

		ck_assert_ptr_nonnull(h);
		ck_assert_ptr_eq(h->f, fake(i));
		for (j = i + 1; j < 50; j++)
			ck_assert_uint_ne(ids[i], ids[j]);
	}
	ck_assert_uint_eq(t.used, 50);
	handle_table_free(&t);
}
END_TEST

START_TEST(test_stale_generation)
{
	struct handle_table	 t;
	uint64_t		 a, b;

	handle_table_init(&t, 8);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(1), &a), 0);
	handle_release(&t, a);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(2), &b), 0);
	/* Same slot, next generation: the old id is stale. */
	ck_assert_uint_eq(IDX(a), IDX(b));
	ck_assert_uint_eq(GEN(b), GEN(a) + 1);
	ck_assert_uint_ne(a, b);
	ck_assert_ptr_null(handle_get(&t, a, HANDLE_FILE));
	ck_assert_ptr_null(handle_get(&t, a, HANDLE_FREE));
	ck_assert_ptr_eq(handle_get(&t, b, HANDLE_FILE)->f, fake(2));
	/* Releasing the stale id must not free the new owner's slot. */
	handle_release(&t, a);
	ck_assert_ptr_nonnull(handle_get(&t, b, HANDLE_FILE));
	ck_assert_uint_eq(t.used, 1);
	handle_table_free(&t);
}
END_TEST

START_TEST(test_wrong_type)
{
	struct handle_table	 t;
	uint64_t		 f, d;

	handle_table_init(&t, 8);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(1), &f), 0);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_DIR, fake(2), &d), 0);
	ck_assert_ptr_null(handle_get(&t, f, HANDLE_DIR));
	ck_assert_ptr_null(handle_get(&t, d, HANDLE_FILE));
	ck_assert_ptr_nonnull(handle_get(&t, f, HANDLE_FILE));
	ck_assert_ptr_nonnull(handle_get(&t, d, HANDLE_DIR));
	ck_assert_int_eq(handle_get(&t, d, HANDLE_FREE)->type, HANDLE_DIR);
	handle_table_free(&t);
}
END_TEST

START_TEST(test_forged)
{
	struct handle_table	 t;
	uint64_t		 id, g;

	handle_table_init(&t, 8);
	/* An empty table knows no id at all. */
	ck_assert_ptr_null(handle_get(&t, 0, HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, 1, HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, (1ULL << 32) | 1, HANDLE_FREE));

	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(1), &id), 0);
	g = (uint64_t)GEN(id) << 32;
	ck_assert_ptr_null(handle_get(&t, 0, HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, g, HANDLE_FREE));	/* index 0 */
	/* Index past the slots, and far past. */
	ck_assert_ptr_null(handle_get(&t, g | (t.nslots + 1), HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, g | 0xffffffffULL, HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, UINT64_MAX, HANDLE_FREE));
	/* A free slot in range, with a plausible generation. */
	ck_assert_ptr_null(handle_get(&t, g | (IDX(id) + 1), HANDLE_FREE));
	/* The right slot with the wrong generation. */
	ck_assert_ptr_null(handle_get(&t, id + (1ULL << 32), HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, id - (1ULL << 32), HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, (uint64_t)IDX(id), HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, id ^ (0x80000000ULL << 32),
	    HANDLE_FREE));
	/* The real one still works. */
	ck_assert_ptr_nonnull(handle_get(&t, id, HANDLE_FILE));
	/* Releasing forged ids changes nothing. */
	handle_release(&t, 0);
	handle_release(&t, UINT64_MAX);
	handle_release(&t, id + (1ULL << 32));
	ck_assert_uint_eq(t.used, 1);
	ck_assert_ptr_nonnull(handle_get(&t, id, HANDLE_FILE));
	handle_table_free(&t);
}
END_TEST

START_TEST(test_max_emfile)
{
	struct handle_table	 t;
	uint64_t		 ids[5], extra = 0;
	int			 i;

	handle_table_init(&t, 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(i),
		    &ids[i]), 0);
	errno = 0;
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(9), &extra), -1);
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_uint_eq(t.used, 5);
	ck_assert_uint_le(t.nslots, 5);
	/* A release makes room for exactly one more. */
	handle_release(&t, ids[2]);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(9), &extra), 0);
	ck_assert_uint_eq(IDX(extra), IDX(ids[2]));
	errno = 0;
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(10), &extra), -1);
	ck_assert_int_eq(errno, EMFILE);
	handle_table_free(&t);
}
END_TEST

START_TEST(test_double_release)
{
	struct handle_table	 t;
	uint64_t		 a, b, c, d;

	handle_table_init(&t, 2);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(1), &a), 0);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(2), &b), 0);
	handle_release(&t, a);
	handle_release(&t, a);		/* stale now: no effect */
	ck_assert_uint_eq(t.used, 1);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(3), &c), 0);
	/* The limit still holds: used was not decremented twice. */
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(4), &d), -1);
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_ptr_nonnull(handle_get(&t, b, HANDLE_FILE));
	ck_assert_ptr_nonnull(handle_get(&t, c, HANDLE_FILE));
	handle_table_free(&t);
}
END_TEST

START_TEST(test_reuse_bumps_generation)
{
	struct handle_table	 t;
	uint64_t		 id, prev;
	int			 i;

	handle_table_init(&t, 4);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(0), &prev), 0);
	for (i = 1; i < 100; i++) {
		handle_release(&t, prev);
		ck_assert_int_eq(handle_alloc(&t, i % 2 ? HANDLE_DIR :
		    HANDLE_FILE, fake(i), &id), 0);
		ck_assert_uint_eq(IDX(id), IDX(prev));
		ck_assert_uint_eq(GEN(id), GEN(prev) + 1);
		ck_assert_ptr_null(handle_get(&t, prev, HANDLE_FREE));
		/* A reused slot starts clean. */
		ck_assert_int_eq(handle_get(&t, id, HANDLE_FREE)->busy, 0);
		ck_assert_int_eq(handle_get(&t, id, HANDLE_FREE)->closing, 0);
		handle_get(&t, id, HANDLE_FREE)->busy = 1;
		handle_get(&t, id, HANDLE_FREE)->closing = 1;
		prev = id;
	}
	handle_table_free(&t);
}
END_TEST

START_TEST(test_generation_wraps_past_zero)
{
	struct handle_table	 t;
	uint64_t		 id, id2;

	handle_table_init(&t, 4);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(0), &id), 0);
	handle_release(&t, id);
	/* Force the slot to the last generation before the wrap. */
	t.slots[IDX(id) - 1].gen = UINT32_MAX;
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(1), &id), 0);
	ck_assert_uint_eq(GEN(id), UINT32_MAX);
	handle_release(&t, id);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(2), &id2), 0);
	/* Generation 0 is never used, so an id is never just the index. */
	ck_assert_uint_ne(GEN(id2), 0);
	ck_assert_uint_ne(id2, id);
	ck_assert_ptr_null(handle_get(&t, id, HANDLE_FREE));
	ck_assert_ptr_null(handle_get(&t, (uint64_t)IDX(id2), HANDLE_FREE));
	handle_table_free(&t);
}
END_TEST

START_TEST(test_table_free_empties)
{
	struct handle_table	 t;
	uint64_t		 id;

	handle_table_init(&t, 4);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(0), &id), 0);
	handle_table_free(&t);
	ck_assert_ptr_null(t.slots);
	ck_assert_uint_eq(t.nslots, 0);
	ck_assert_uint_eq(t.used, 0);
	ck_assert_ptr_null(handle_get(&t, id, HANDLE_FREE));
}
END_TEST

START_TEST(test_zero_max)
{
	struct handle_table	 t;
	uint64_t		 id;

	handle_table_init(&t, 0);
	ck_assert_int_eq(handle_alloc(&t, HANDLE_FILE, fake(0), &id), -1);
	ck_assert_int_eq(errno, EMFILE);
	handle_table_free(&t);
}
END_TEST

Suite *
handle_suite(void)
{
	Suite	*s = suite_create("handle");
	TCase	*tc = tcase_create("handle");

	tcase_add_test(tc, test_alloc_get_release);
	tcase_add_test(tc, test_distinct_ids);
	tcase_add_test(tc, test_stale_generation);
	tcase_add_test(tc, test_wrong_type);
	tcase_add_test(tc, test_forged);
	tcase_add_test(tc, test_max_emfile);
	tcase_add_test(tc, test_double_release);
	tcase_add_test(tc, test_reuse_bumps_generation);
	tcase_add_test(tc, test_generation_wraps_past_zero);
	tcase_add_test(tc, test_table_free_empties);
	tcase_add_test(tc, test_zero_max);
	suite_add_tcase(s, tc);
	return (s);
}

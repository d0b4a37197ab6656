/*
 * check_errmap.c - the one errno table (common/errmap.h): the daemon's
 * errmap_*() and the client's aiofs_strerror()/aiofs_errname() agree with
 * each other, with <errno.h> and with glibc's strerror() texts, which the
 * table claims to copy.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <check.h>

#include "testutil.h"
#include "aiofs.h"
#include "errmap.h"

struct entry {
	int		 value;
	const char	*name;
	const char	*message;
};

static const struct entry table[] = {
#define XX(e, msg) { e, #e, msg },
	AIOFS_ERRNO_MAP(XX)
#undef XX
};
#define NTABLE	(sizeof table / sizeof table[0])

START_TEST(test_table_sane)
{
	size_t	 i, j;

	ck_assert_uint_ge(NTABLE, 40);
	for (i = 0; i < NTABLE; i++) {
		ck_assert_int_gt(table[i].value, 0);
		ck_assert_int_eq(table[i].name[0], 'E');
		ck_assert_uint_gt(strlen(table[i].message), 0);
		/* Values and names are unique (no EAGAIN/EWOULDBLOCK pair). */
		for (j = i + 1; j < NTABLE; j++) {
			ck_assert_msg(table[i].value != table[j].value,
			    "%s and %s share value %d", table[i].name,
			    table[j].name, table[i].value);
			ck_assert_str_ne(table[i].name, table[j].name);
		}
	}
}
END_TEST

START_TEST(test_name_value_roundtrip)
{
	size_t	 i;

	for (i = 0; i < NTABLE; i++) {
		ck_assert_str_eq(errmap_name(table[i].value), table[i].name);
		ck_assert_int_eq(errmap_value(table[i].name), table[i].value);
		ck_assert_int_eq(errmap_value(errmap_name(table[i].value)),
		    table[i].value);
	}
}
END_TEST

START_TEST(test_messages_are_glibc)
{
	size_t	 i;

	/* The test process runs in the C locale: glibc's English texts. */
	for (i = 0; i < NTABLE; i++) {
		ck_assert_msg(strcmp(table[i].message,
		    strerror(table[i].value)) == 0,
		    "%s: table says \"%s\", glibc says \"%s\"", table[i].name,
		    table[i].message, strerror(table[i].value));
		ck_assert_str_eq(errmap_message(table[i].value),
		    strerror(table[i].value));
	}
}
END_TEST

START_TEST(test_unknown)
{
	ck_assert_str_eq(errmap_name(0), "EUNKNOWN");
	ck_assert_str_eq(errmap_name(-1), "EUNKNOWN");
	ck_assert_str_eq(errmap_name(9999), "EUNKNOWN");
	ck_assert_str_eq(errmap_name(INT_MAX), "EUNKNOWN");
	ck_assert_str_eq(errmap_name(INT_MIN), "EUNKNOWN");
	ck_assert_int_eq(errmap_value("EUNKNOWN"), -1);
	ck_assert_int_eq(errmap_value("ENOPE"), -1);
	ck_assert_int_eq(errmap_value(""), -1);
	ck_assert_int_eq(errmap_value("enoent"), -1);
	ck_assert_str_eq(errmap_message(9999), "Unknown error");
	ck_assert_str_eq(aiofs_errname(9999), "EUNKNOWN");
	ck_assert_str_eq(aiofs_errname(-9999), "EUNKNOWN");
	ck_assert_str_eq(aiofs_errname(0), "EUNKNOWN");
	ck_assert_str_eq(aiofs_strerror(9999), "Unknown error");
	ck_assert_str_eq(aiofs_strerror(-9999), "Unknown error");
}
END_TEST

START_TEST(test_client_extremes)
{
	/* -INT_MIN does not exist: must not be computed (UBSan). */
	ck_assert_str_eq(aiofs_errname(INT_MIN), "EUNKNOWN");
	ck_assert_str_eq(aiofs_strerror(INT_MIN), "Unknown error");
	ck_assert_str_eq(aiofs_errname(INT_MAX), "EUNKNOWN");
	ck_assert_str_eq(aiofs_strerror(INT_MAX), "Unknown error");
}
END_TEST

START_TEST(test_client_twins)
{
	size_t	 i;
	int	 e;

	for (i = 0; i < NTABLE; i++) {
		e = table[i].value;
		ck_assert_str_eq(aiofs_errname(e), errmap_name(e));
		ck_assert_str_eq(aiofs_errname(-e), errmap_name(e));
		ck_assert_str_eq(aiofs_strerror(e), errmap_message(e));
		ck_assert_str_eq(aiofs_strerror(-e), errmap_message(e));
		ck_assert_str_eq(aiofs_strerror(-e), strerror(e));
	}
}
END_TEST

START_TEST(test_common_errnos_present)
{
	static const int	 must[] = { EPERM, ENOENT, EIO, EBADF, EAGAIN,
	    ENOMEM, EACCES, EEXIST, ENOTDIR, EISDIR, EINVAL, EMFILE, ENOSPC,
	    ESPIPE, EROFS, EPIPE, ENAMETOOLONG, ENOSYS, ENOTEMPTY, ELOOP,
	    EPROTO, EILSEQ, EMSGSIZE, EOPNOTSUPP, ECONNRESET, ECANCELED,
	    EXDEV, EFBIG, ETIMEDOUT, EDQUOT };
	size_t			 i;

	/* Every errno the daemon is known to reply with has a name. */
	for (i = 0; i < sizeof must / sizeof must[0]; i++)
		ck_assert_msg(strcmp(errmap_name(must[i]), "EUNKNOWN") != 0,
		    "errno %d (%s) missing from the table", must[i],
		    strerror(must[i]));
}
END_TEST

Suite *
errmap_suite(void)
{
	Suite	*s = suite_create("errmap");
	TCase	*tc = tcase_create("errmap");

	tcase_add_test(tc, test_table_sane);
	tcase_add_test(tc, test_name_value_roundtrip);
	tcase_add_test(tc, test_messages_are_glibc);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_client_extremes);
	tcase_add_test(tc, test_client_twins);
	tcase_add_test(tc, test_common_errnos_present);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * check_main.c - runs every Check suite (OpenSSH's tests.c, libuv's
 * test-list.h).  Each test runs in its own process (CK_FORK).  Pick one
 * suite with CK_RUN_SUITE=name, one test case with CK_RUN_CASE=name.
 */
#include <stdlib.h>

#include <check.h>

#define SUITES(XX)							\
	XX(frame) XX(errmap) XX(handle) XX(mode) XX(textio) XX(ops_file)	\
	XX(ops_os) XX(ops_path) XX(ops_temp) XX(client) XX(integration)

#define XX(name) Suite *name##_suite(void);
SUITES(XX)
#undef XX

int
main(void)
{
	SRunner	*sr = NULL;
	int	 failed;

#define XX(name)							\
	if (sr == NULL)							\
		sr = srunner_create(name##_suite());			\
	else								\
		srunner_add_suite(sr, name##_suite());
	SUITES(XX)
#undef XX
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

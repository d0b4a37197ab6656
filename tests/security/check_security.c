/*
 * check_security.c - the security suite: confinement, read-only policy,
 * symlink races, protocol abuse, limits, configuration, impersonation and
 * data integrity, each against a real aiofsd (see docs/security.md).
 *
 * Every test runs in its own process (CK_FORK).  Pick one suite with
 * CK_RUN_SUITE=name, one test case with CK_RUN_CASE=name; SEC_RACE_ROUNDS
 * sets the rounds of the race tests (race-long.sh).  Many tests need root
 * (mount namespaces, other uids, loop devices); run as another user they
 * say what they skip.
 */
#include <signal.h>
#include <stdlib.h>

#include <check.h>

#define SEC_SUITES(XX)							\
	XX(confine) XX(readonly) XX(race) XX(protocol) XX(limits)	\
	XX(config) XX(impersonate) XX(integrity)

#define XX(name) Suite *name##_suite(void) __attribute__((weak));
SEC_SUITES(XX)
#undef XX

int
main(void)
{
	SRunner	*sr = NULL;
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
#define XX(name)							\
	if (name##_suite != NULL) {					\
		if (sr == NULL)						\
			sr = srunner_create(name##_suite());		\
		else							\
			srunner_add_suite(sr, name##_suite());		\
	}
	SEC_SUITES(XX)
#undef XX
	if (sr == NULL)
		return (1);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

// SPDX-License-Identifier: MIT
/*
 * measure.c - run a command and print its wall time, peak resident set and
 * how it ended, on one line to stderr-free stdout:
 *
 *   measure CMD [ARGS...]   ->   "<seconds> <peak RSS KiB> <status>"
 *
 * status is the exit code, or 128 + the signal that ended it.  The
 * command's own output goes to /dev/null unless MEASURE_LOG names a file.
 * Peak RSS comes from wait4()'s rusage of that child alone, which is what
 * /usr/bin/time -v reports.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *log = getenv("MEASURE_LOG");
	struct rusage ru;
	double t0, t1;
	int status, code;
	pid_t pid;

	if (argc < 2) {
		fputs("usage: measure CMD [ARGS...]\n", stderr);
		return 2;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 2;
	}
	if (pid == 0) {
		int fd = open(log ? log : "/dev/null",
			      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[1], argv + 1);
		perror("measure: exec");
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("measure: wait4");
		return 2;
	}
	t1 = now();
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("%.4f %ld %d\n", t1 - t0, ru.ru_maxrss, code);
	return 0;
}

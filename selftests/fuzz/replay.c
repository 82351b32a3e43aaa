// SPDX-License-Identifier: MIT
/*
 * replay.c - a main() for the fuzzer's harness without libFuzzer: runs
 * every file named on the command line, and every file in every directory
 * named (not recursively, in name order), through LLVMFuzzerTestOneInput()
 * once.  make selftest replays the generated seeds and the regression
 * inputs this way, with the project's compiler and flags (so also under
 * SANITIZE=thread); clang is needed only to find new inputs (make fuzz).
 *
 * Arguments starting with '-' are ignored, as libFuzzer's options would
 * be, so a libFuzzer command line can be replayed unchanged.
 * Exit status: 0 if at least one input ran and none failed (a failing
 * input aborts the process, with the harness's report on stderr).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX	(1UL << 20)
#define MAX_FILES	4096

static uint8_t buf[INPUT_MAX];
static unsigned long ran;
static int verbose;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	n = fread(buf, 1, INPUT_MAX, f);
	if (ferror(f) || (n == INPUT_MAX && fgetc(f) != EOF)) {
		fprintf(stderr, "%s: unreadable or larger than %lu bytes\n",
			path, INPUT_MAX);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (verbose)
		fprintf(stderr, "fuzz-replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	ran++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
	static char *names[MAX_FILES];
	char path[4096];
	struct dirent *d;
	size_t n = 0, i;
	int err = 0;
	DIR *dp = opendir(dir);

	if (!dp) {
		perror(dir);
		return -1;
	}
	while ((d = readdir(dp)) && n < MAX_FILES) {
		/* Hidden files: .gitignore, editor droppings. */
		if (d->d_name[0] == '.')
			continue;
		names[n] = strdup(d->d_name);
		if (!names[n++]) {
			closedir(dp);
			return -1;
		}
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp_name);
	for (i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    run_file(path))
			err = -1;
		free(names[i]);
	}
	return err;
}

int main(int argc, char **argv)
{
	int i, err = 0;

	verbose = getenv("FUZZ_VERBOSE") != NULL;
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (argv[i][0] == '-')
			continue;
		if (stat(argv[i], &st)) {
			perror(argv[i]);
			err = 1;
		} else if (S_ISDIR(st.st_mode) ? run_dir(argv[i])
					       : run_file(argv[i])) {
			err = 1;
		}
	}
	if (!ran) {
		fprintf(stderr, "fuzz-replay: no input ran\n");
		return 1;
	}
	printf("fuzz-replay: %lu inputs replayed%s\n", ran,
	       err ? ", some could not be read" : ", all passed");
	return err;
}

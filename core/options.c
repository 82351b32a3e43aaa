// SPDX-License-Identifier: MIT
/*
 * options.c - BITSLAB_OPTIONS parsing.  Runs inside the first malloc, so it
 * must not allocate: it reads the environment string in place and reports
 * problems with write(2).  An unknown key or a bad value gets a one-line
 * warning naming it, and the default stays.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bitslab/compiler.h>

#include "options.h"

long opt_stats;
long opt_bin_scale = 100;
long opt_bin_grow = 1024;
long opt_retire_batch = 32;
long opt_chunk_cache = 256;
long opt_empty_keep = 1;
long opt_decay_ms = 500;
long opt_purge_ms = 25;
long opt_idle_ms = 200;
long opt_prof;
long opt_prof_sample = 512 * 1024;
long opt_prof_signal;
long opt_leaks;
long opt_secure = IS_ENABLED(CONFIG_SECURE);

static const struct option {
	const char *key;
	long *value;
	long min, max;
	const char *help;
} options[] = {
	{ "stats", &opt_stats, 0, 2, "print statistics at exit: 1 text, 2 JSON" },
	{ "bin_scale", &opt_bin_scale, 10, 1000, "bin capacity, percent" },
	{ "bin_grow", &opt_bin_grow, 0, 65536,
	  "KiB a thread's bins may grow by when a class hits both ends" },
	{ "retire_batch", &opt_retire_batch, 1, 4096,
	  "retired chunks per grace period" },
	{ "chunk_cache", &opt_chunk_cache, 0, 65536,
	  "reclaimed memory kept for reuse at least, in 64 KiB chunks" },
	{ "empty_keep", &opt_empty_keep, 0, 64,
	  "empty chunks a heap keeps per class" },
	{ "purge_ms", &opt_purge_ms, 0, 3600000,
	  "cached chunks unused this long give their pages back; 0: never" },
	{ "decay_ms", &opt_decay_ms, 0, 3600000,
	  "unused memory goes back to the system after this long; 0: at once" },
	{ "idle_ms", &opt_idle_ms, 0, 60000,
	  "the helper looks at idle threads' inboxes this often; 0: never" },
	{ "prof", &opt_prof, 0, 1, "heap profile of sampled blocks at exit" },
	{ "prof_sample", &opt_prof_sample, 1, 1L << 40,
	  "mean bytes allocated between samples" },
	{ "prof_signal", &opt_prof_signal, 0, 64,
	  "signal that writes a heap profile" },
	{ "leaks", &opt_leaks, 0, 1, "report sampled blocks live at exit" },
	{ "secure", &opt_secure, 0, 1,
	  "canaries, zeroed freed blocks, quarantine, random reuse" },
};

static void warn(const char *what, const char *s, size_t n, const char *tail)
{
	char buf[200];
	size_t len = 0;
	ssize_t __maybe_unused r;

#define ADD(p, l)                                                         \
	do {                                                              \
		size_t _l = min((size_t)(l), sizeof(buf) - 1 - len);      \
		memcpy(buf + len, (p), _l);                               \
		len += _l;                                                \
	} while (0)
	ADD("bitslab: ", 9);
	ADD(what, strlen(what));
	ADD(" '", 2);
	ADD(s, n);
	ADD("'", 1);
	ADD(tail, strlen(tail));
#undef ADD
	buf[len++] = '\n';
	r = write(STDERR_FILENO, buf, len);
}

static bool parse_long(const char *s, size_t n, long *out)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 12)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static void parse_one(const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	size_t klen = eq ? (size_t)(eq - s) : n, i;

	for (i = 0; i < ARRAY_SIZE(options); i++) {
		const struct option *o = &options[i];
		long v;

		if (strlen(o->key) != klen || memcmp(o->key, s, klen))
			continue;
		if (!eq) {
			warn("option", s, n, " needs a value (key=value); default kept");
			return;
		}
		if (!parse_long(eq + 1, n - klen - 1, &v) || v < o->min ||
		    v > o->max) {
			warn("bad value for option", s, n, "; default kept");
			return;
		}
		*o->value = v;
		return;
	}
	warn("unknown option", s, klen, " ignored");
}

/** options_parse() - apply "key=value,..." from @env (may be NULL). */
void options_parse(const char *env)
{
	const char *stats = getenv("BITSLAB_STATS");

	if (stats && !strcmp(stats, "json"))
		opt_stats = OPT_STATS_JSON;
	else if (stats && stats[0] && strcmp(stats, "0"))
		opt_stats = OPT_STATS_TEXT;
	while (env && *env) {
		const char *end = strchr(env, ',');
		size_t n = end ? (size_t)(end - env) : strlen(env);

		if (n)
			parse_one(env, n);
		env += n + (end ? 1 : 0);
	}
}

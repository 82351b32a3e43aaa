/* SPDX-License-Identifier: MIT */
/*
 * compiler.h - attributes, branch hints and config tests shared by every
 * bitslab source file.  Internal: not installed, not part of the API.
 */
#ifndef BITSLAB_COMPILER_H
#define BITSLAB_COMPILER_H

#include <stddef.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#undef __always_inline	/* glibc's <sys/cdefs.h> has one too */
#define __always_inline	inline __attribute__((always_inline))
#define noinline	__attribute__((noinline))
#define __cold		__attribute__((cold))
#define __noreturn	__attribute__((noreturn))
#define __maybe_unused	__attribute__((unused))
#define __aligned(x)	__attribute__((aligned(x)))
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __export	__attribute__((visibility("default")))

/*
 * in_return_reg(x) - ask for @x in the register a function returns it in
 * (x86-64: rax), at no cost: an empty asm.  For a fast path that returns
 * the value it loads, so that the compiler loads it there instead of into
 * another register and moving it at the end (gcc 12 does, in malloc()).
 * A no-op elsewhere.
 */
#if defined(__x86_64__)
#define in_return_reg(x) __asm__("" : "+a"(x))
#else
#define in_return_reg(x) ((void)(x))
#endif

#define CACHELINE_SIZE	64
#define ____cacheline_aligned __aligned(CACHELINE_SIZE)

#define BUILD_BUG_ON(cond) _Static_assert(!(cond), "BUILD_BUG_ON: " #cond)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define ALIGN_UP(x, a)	 (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)

#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))

/*
 * IS_ENABLED(CONFIG_FOO) is 1 when the build passed -DCONFIG_FOO=1 and 0
 * otherwise, as a constant expression, so both branches of an
 * "if (IS_ENABLED(...))" are compiled and type-checked.  This is the
 * kernel's trick: CONFIG_FOO expands to 1, which pastes into
 * __ARG_PLACEHOLDER_1 and shifts a 1 into the second argument slot.
 */
#define __ARG_PLACEHOLDER_1 0,
#define __take_second_arg(__ignored, val, ...) val
#define __is_defined(x)	___is_defined(x)
#define ___is_defined(val) ____is_defined(__ARG_PLACEHOLDER_##val)
#define ____is_defined(arg1_or_junk) __take_second_arg(arg1_or_junk 1, 0)
#define IS_ENABLED(option) __is_defined(option)

#endif /* BITSLAB_COMPILER_H */

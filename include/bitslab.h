/* SPDX-License-Identifier: MIT */
/*
 * bitslab.h - public API of the bitslab memory allocator.
 *
 * The prefixed functions below are in both libbitslab.a and libbitslab.so;
 * they never replace the process's malloc.  libbitslab.so additionally
 * exports the standard malloc family for LD_PRELOAD and -lbitslab use.
 */
#ifndef BITSLAB_H
#define BITSLAB_H

#include <stddef.h>

#define BITSLAB_VERSION_MAJOR 0
#define BITSLAB_VERSION_MINOR 1
#define BITSLAB_VERSION_PATCH 0
#define BITSLAB_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BITSLAB_API __attribute__((visibility("default")))
#else
#define BITSLAB_API
#endif

/**
 * bitslab_version() - the library's version string, e.g. "0.1.0".
 * Compare with BITSLAB_VERSION to detect a header/library mismatch.
 */
BITSLAB_API const char *bitslab_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BITSLAB_H */

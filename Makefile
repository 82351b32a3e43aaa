# SPDX-License-Identifier: MIT
#
# bitslab top-level Makefile, in the style of the kernel's Kbuild.
#
# Each directory holds a small Kbuild fragment that only lists what it builds
# (obj-y, preload-y, progs-y, checks-y) and per-file or per-directory flags
# (CFLAGS_foo.o, ccflags-y, ldlibs-y).  This file does everything else.
# Run "make help" for the targets and variables.

# ---------------------------------------------------------------------------
# Configuration: every CONFIG_* switch and its default, in one place.
# Booleans are y/n and reach C as -DCONFIG_FOO=1 (test with IS_ENABLED());
# values reach C as -DCONFIG_FOO=<value>.
# ---------------------------------------------------------------------------
CONFIG_DEBUG		?= n	# check allocator invariants (slow)
CONFIG_WERROR		?= y	# warnings are errors
CONFIG_CHUNK_SHIFT	?= 16	# chunks of 64 KiB, aligned at 64 KiB
CONFIG_MISUSE_CHECKS	?= y	# n: no double-free / interior-pointer tests
				# on the free paths; only to measure their cost
CONFIG_SECURE		?= n	# y: secure mode (core/secure.c) by default

config-bool  := CONFIG_DEBUG CONFIG_MISUSE_CHECKS CONFIG_SECURE
config-value := CONFIG_CHUNK_SHIFT

# ---------------------------------------------------------------------------
# Trees: srctree is where this Makefile lives, objtree where output goes.
# O=dir builds out of tree; SANITIZE=x builds into out-x/ unless O is given,
# so sanitizer objects never mix with the normal ones.
# ---------------------------------------------------------------------------
srctree := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ifdef SANITIZE
O ?= $(srctree)/out-$(SANITIZE)
endif
ifdef O
objtree := $(abspath $(O))
else
objtree := $(srctree)
endif

MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:
.DEFAULT_GOAL := all

# ---------------------------------------------------------------------------
# Quiet output ("  CC      core/chunk.o"), V=1 for full commands, make -s
# for none.  $(call cmd,foo) prints quiet_cmd_foo (or cmd_foo) and runs
# cmd_foo, as in the kernel's scripts/Kbuild.include.
# ---------------------------------------------------------------------------
ifeq ($(V),1)
quiet :=
else
quiet := quiet_
endif
ifneq ($(findstring s,$(firstword -$(filter-out --%,$(MAKEFLAGS)))),)
quiet := silent_
endif
escsq = $(subst ','\'',$(1))
echo-cmd = $(if $($(quiet)cmd_$(1)),echo '  $(call escsq,$($(quiet)cmd_$(1)))';)
cmd = @set -e; $(echo-cmd) $(cmd_$(1))
rel = $(patsubst $(objtree)/%,%,$@)

# ---------------------------------------------------------------------------
# Tools and dependencies (only through pkg-config).
# ---------------------------------------------------------------------------
CC		?= cc
ifeq ($(origin CC),default)
CC		:= gcc
endif
ifeq ($(origin CXX),default)
CXX		:= g++
endif
LD		?= ld
AR		?= ar
OBJCOPY		?= objcopy
PKG_CONFIG	?= pkg-config

# Goals that need no third-party library.
nodeps-goals := clean help format lint deps
goals := $(or $(MAKECMDGOALS),all)

ifneq ($(filter-out $(nodeps-goals),$(goals)),)
ifneq ($(shell $(PKG_CONFIG) --exists liburcu-bp liburcu-cds 2>/dev/null && echo y),y)
$(error liburcu not found by pkg-config (liburcu-bp, liburcu-cds): install the Debian packages liburcu-dev and pkg-config)
endif
URCU_CFLAGS := $(shell $(PKG_CONFIG) --cflags liburcu-bp liburcu-cds)
URCU_LIBS   := $(shell $(PKG_CONFIG) --libs liburcu-bp liburcu-cds)
endif

# Check is picked up whenever it is installed (so a single test binary can be
# built by name) and required by the goals that run tests.
check-goals := selftest stress check
ifneq ($(filter-out $(nodeps-goals),$(goals)),)
ifeq ($(shell $(PKG_CONFIG) --exists check 2>/dev/null && echo y),y)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check)
else ifneq ($(filter $(check-goals),$(goals)),)
$(error Check not found by pkg-config (check): install the Debian package check)
endif
endif

# ---------------------------------------------------------------------------
# Flags.
# ---------------------------------------------------------------------------
OPT ?= -O2
ifeq ($(SANITIZE),thread)
OPT := -O1
endif

config-defines := $(foreach c,$(config-bool),$(if $(filter y,$(strip $($(c)))),-D$(c)=1)) \
		  $(foreach c,$(config-value),-D$(c)=$(strip $($(c))))

warn-flags := -Wall -Wextra -Wundef -Wstrict-prototypes -Wmissing-prototypes \
	      -Wno-unused-parameter -fno-common
ifeq ($(strip $(CONFIG_WERROR)),y)
warn-flags += -Werror
endif

ifdef SANITIZE
san-flags := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

KBUILD_CFLAGS := -std=gnu11 $(OPT) -g -pthread -fPIC -fvisibility=hidden \
		 -fno-semantic-interposition -ftls-model=initial-exec \
		 $(warn-flags) $(san-flags) $(config-defines) \
		 -I$(srctree)/include $(URCU_CFLAGS) $(EXTRA_CFLAGS)
KBUILD_LDFLAGS := -pthread $(san-flags) $(EXTRA_LDFLAGS)
# C++ sources (.cc: the tests of the C++ operators) get the same flags but
# the C-only ones.
KBUILD_CXXFLAGS := -std=gnu++17 \
		   $(filter-out -std=gnu11 -Wstrict-prototypes -Wmissing-prototypes,$(KBUILD_CFLAGS))

# A change of compiler or flags rebuilds everything: objects depend on
# .flags, which is rewritten only when its content changes.
flags-content := $(CC) $(KBUILD_CFLAGS) $(KBUILD_LDFLAGS) $(CXX)
$(objtree)/.flags: FORCE
	@mkdir -p $(@D)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(call escsq,$(flags-content))' ]; then \
		printf '%s\n' '$(call escsq,$(flags-content))' > $@; fi

# ---------------------------------------------------------------------------
# Library directories: collect obj-y / preload-y and per-file CFLAGS_x.o.
# ---------------------------------------------------------------------------
lib-dirs := atomics core
lib-objs :=
preload-objs :=

define kbuild-lib-dir
obj-y :=
preload-y :=
ccflags-y :=
include $(srctree)/$(1)/Kbuild
lib-objs += $$(addprefix $(objtree)/$(1)/,$$(obj-y))
preload-objs += $$(addprefix $(objtree)/$(1)/,$$(preload-y))
dirflags-$(1) := $$(ccflags-y)
$$(foreach o,$$(obj-y) $$(preload-y),$$(eval fileflags-$(1)/$$(o) := $$(CFLAGS_$$(o)))$$(eval CFLAGS_$$(o) :=))
endef
$(foreach d,$(lib-dirs),$(eval $(call kbuild-lib-dir,$(d))))

# ---------------------------------------------------------------------------
# Program directories: progs-y (each from <prog>-objs, default <prog>.o),
# checks-y (Check suites, each check_<unit>.o + the shared runner main.o),
# lib-y (objects archived into the directory's lib.a, which every program
# of the directory links), ldlibs-y / ccflags-y per directory, and per
# program <prog>-builtin (y/n: link built-in.a) and <prog>-ldlibs; per-file
# CFLAGS_<file>.o as in the library directories.
# ---------------------------------------------------------------------------
prog-dirs := $(patsubst $(srctree)/%/Kbuild,%,$(wildcard $(patsubst %,$(srctree)/%/Kbuild,\
	     selftests/unit selftests/preload selftests/embed selftests/host \
	     selftests/link selftests/corrupt \
	     selftests/workloads selftests/fuzz \
	     tools/bench)))

define kbuild-prog-dir
progs-y :=
checks-y :=
lib-y :=
ccflags-y :=
ldlibs-y :=
builtin-y := y
linkdeps-y :=
include $(srctree)/$(1)/Kbuild
dirflags-$(1) := $$(ccflags-y)
dirlibs-$(1) := $$(ldlibs-y)
dirdeps-$(1) := $$(linkdeps-y)
libobjs-$(1) := $$(addprefix $(objtree)/$(1)/,$$(lib-y))
dirlib-$(1) := $$(if $$(lib-y),$(objtree)/$(1)/lib.a)
progs-$(1) := $$(addprefix $(objtree)/$(1)/,$$(progs-y))
checks-$(1) := $$(addprefix $(objtree)/$(1)/,$$(checks-y))
$$(foreach p,$$(progs-y),$$(eval objs-$(1)/$$(p) := $$(addprefix $(objtree)/$(1)/,$$(or $$($$(p)-objs),$$(p).o)))$$(eval $$(p)-objs :=))
$$(foreach p,$$(checks-y),$$(eval objs-$(1)/$$(p) := $$(addprefix $(objtree)/$(1)/,$$(p).o main.o)))
$$(foreach v,$$(filter CFLAGS_%.o,$$(.VARIABLES)),$$(if $$($$(v)),$$(eval fileflags-$(1)/$$(v:CFLAGS_%=%) := $$($$(v)))$$(eval $$(v) :=)))
$$(foreach p,$$(progs-y) $$(checks-y),$$(eval builtin-$(1)/$$(p) := $$(or $$($$(p)-builtin),$$(builtin-y)))$$(eval libs-$(1)/$$(p) := $$($$(p)-ldlibs))$$(eval $$(p)-builtin :=)$$(eval $$(p)-ldlibs :=))
endef
$(foreach d,$(prog-dirs),$(eval $(call kbuild-prog-dir,$(d))))

all-dirlibs := $(foreach d,$(prog-dirs),$(dirlib-$(d)))

all-progs := $(foreach d,$(prog-dirs),$(progs-$(d)) $(checks-$(d)))

# ---------------------------------------------------------------------------
# Compile and link.
# ---------------------------------------------------------------------------
quiet_cmd_cc_o_c = CC      $(rel)
      cmd_cc_o_c = $(CC) $(KBUILD_CFLAGS) $(dirflags-$(reldir)) \
		   $(fileflags-$(rel)) -MMD -MP -c -o $@ $<

$(objtree)/%.o: $(srctree)/%.c $(objtree)/.flags
	@mkdir -p $(@D)
	$(call cmd,cc_o_c)

quiet_cmd_cxx_o_cc = CXX     $(rel)
      cmd_cxx_o_cc = $(CXX) $(KBUILD_CXXFLAGS) $(dirflags-$(reldir)) \
		     $(fileflags-$(rel)) -MMD -MP -c -o $@ $<

$(objtree)/%.o: $(srctree)/%.cc $(objtree)/.flags
	@mkdir -p $(@D)
	$(call cmd,cxx_o_cc)

# built-in.a: every library object, symbols untouched, for the unit tests.
quiet_cmd_ar_builtin = AR      $(rel)
      cmd_ar_builtin = rm -f $@; $(AR) rcsD $@ $(lib-objs)

$(objtree)/built-in.a: $(lib-objs)
	$(call cmd,ar_builtin)

# libbitslab.a: the prefixed API only.  The objects are linked into one
# relocatable bitslab.o whose hidden symbols are made local, so embedding it
# exports nothing but bitslab_* and defines no malloc or free.
quiet_cmd_ar_lib = AR      $(rel)
      cmd_ar_lib = $(LD) -r -o $(objtree)/bitslab.o $(lib-objs) && \
		   $(OBJCOPY) --localize-hidden $(objtree)/bitslab.o && \
		   rm -f $@ && $(AR) rcsD $@ $(objtree)/bitslab.o

$(objtree)/libbitslab.a: $(lib-objs)
	$(call cmd,ar_lib)

quiet_cmd_ld_so = LD      $(rel)
      cmd_ld_so = $(CC) -shared -Wl,-soname,libbitslab.so -Wl,-z,now \
		  -Wl,-z,relro -Wl,--no-undefined -static-libgcc -o $@ $^ \
		  $(KBUILD_LDFLAGS) $(URCU_LIBS)

$(objtree)/libbitslab.so: $(lib-objs) $(preload-objs)
	$(call cmd,ld_so)

# Programs link their directory's lib.a, then built-in.a (internals visible
# to tests), then their own and the directory's libraries; a program with
# builtin n is plain (it meets bitslab through LD_PRELOAD only).
reldir = $(patsubst %/,%,$(dir $(rel)))
quiet_cmd_ld_prog = LD      $(rel)
      cmd_ld_prog = $(CC) -o $@ $(objs-$(rel)) $(dirlib-$(reldir)) \
		    $(if $(filter y,$(builtin-$(rel))),$(objtree)/built-in.a $(URCU_LIBS)) \
		    $(libs-$(rel)) $(dirlibs-$(reldir)) $(KBUILD_LDFLAGS) -lm

.SECONDEXPANSION:
$(all-progs): $$(objs-$$(rel)) $$(dirlib-$$(reldir)) $(objtree)/built-in.a \
	      $$(dirdeps-$$(reldir))
	$(call cmd,ld_prog)

# A program directory's lib.a: its lib-y objects.
quiet_cmd_ar_dirlib = AR      $(rel)
      cmd_ar_dirlib = rm -f $@; $(AR) rcsD $@ $^

$(all-dirlibs): $(objtree)/%/lib.a: $$(libobjs-$$*)
	$(call cmd,ar_dirlib)

libs := $(objtree)/libbitslab.a $(objtree)/libbitslab.so

-include $(patsubst %.o,%.d,$(lib-objs) $(preload-objs) \
	$(foreach d,$(prog-dirs),$(libobjs-$(d))) \
	$(foreach p,$(all-progs),$(objs-$(patsubst $(objtree)/%,%,$(p)))))

# ---------------------------------------------------------------------------
# Goals.
# ---------------------------------------------------------------------------
PHONY := all selftest stress fuzz bench demo deps install clean help format lint FORCE

all: $(libs)

unit-checks := $(checks-selftests/unit) $(checks-selftests/workloads)
preload-checks := $(checks-selftests/preload)
# PRELOAD_LIB=path tests another build of the library (an installed one,
# say) under LD_PRELOAD; a path that does not load fails the preload suites.
PRELOAD_LIB ?= $(objtree)/libbitslab.so
preload-lib := $(PRELOAD_LIB)

embed-checks := $(checks-selftests/embed)
# The liburcu host suites: one preloaded, one embedding libbitslab.a.
host-preload-checks := $(filter %/check_host,$(checks-selftests/host))
host-embed-checks := $(filter %/check_host_embed,$(checks-selftests/host))
link-checks := $(checks-selftests/link)

# Sanitizer runtimes replace malloc themselves: the LD_PRELOAD suites, the
# -lbitslab suite and the embedding suite (which checks the host keeps
# glibc's malloc) are reported as skipped in those builds, not run and not
# counted as passed.  The liburcu host suite through the prefixed API
# (check_host_embed) runs: its fork children start no threads there.
# The corruption suite's table is the default build's promise: a build
# without the misuse checks misses small blocks' double frees by design,
# and reports the suite as skipped.
corrupt-skip := skip:CONFIG_MISUSE_CHECKS=n:

ifdef SANITIZE
preload-runs := $(host-embed-checks) \
		$(addprefix skip:SANITIZE=$(SANITIZE):,$(embed-checks) \
		  $(link-checks) $(preload-checks) $(host-preload-checks)) \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/preload/programs.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/preload/stats.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/preload/prof.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/preload/examples.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/preload/startup.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/workloads/frag-course.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/workloads/ab.sh \
		skip:SANITIZE=$(SANITIZE):$(srctree)/selftests/corrupt/run.sh
else
preload-runs := $(embed-checks) $(host-embed-checks) \
		$(addprefix linked:,$(link-checks)) \
		$(addprefix preload:,$(preload-checks) $(host-preload-checks)) \
		$(srctree)/selftests/preload/programs.sh \
		$(srctree)/selftests/preload/stats.sh \
		$(srctree)/selftests/preload/prof.sh \
		$(srctree)/selftests/preload/examples.sh \
		$(srctree)/selftests/preload/startup.sh \
		$(srctree)/selftests/workloads/frag-course.sh \
		$(srctree)/selftests/workloads/ab.sh \
		$(if $(filter y,$(strip $(CONFIG_MISUSE_CHECKS))),,$(corrupt-skip))$(srctree)/selftests/corrupt/run.sh
endif

# --- the fuzzer (selftests/fuzz) ---

# The seeds are generated, not checked in (gen_corpus.c says why).
fuzz-dir := $(objtree)/selftests/fuzz
fuzz-seeds := $(fuzz-dir)/seeds/.stamp
quiet_cmd_gen_seeds = GEN     $(patsubst $(objtree)/%,%,$(@D))
      cmd_gen_seeds = rm -rf $(@D) && mkdir -p $(@D) && \
		      $(fuzz-dir)/gen-corpus $(@D) && touch $@

$(fuzz-seeds): $(fuzz-dir)/gen-corpus
	$(call cmd,gen_seeds)

# make fuzz [FUZZ_SECONDS=60] [FUZZ_ARGS=libFuzzer options]: the libFuzzer
# build of the harness, from a library built with clang into out-fuzz/
# with coverage (-fsanitize=fuzzer-no-link) and AddressSanitizer (FUZZ_ASAN=n
# leaves it out, in out-fuzz-noasan/: faster, but bitslab's own code is
# then unchecked).  New inputs go to out-fuzz/corpus, crashes to
# out-fuzz/crash-*.
CLANG		?= clang
FUZZ_SECONDS	?= 60
FUZZ_ASAN	?= y
FUZZ_ARGS	?=
fuzz-san := $(if $(filter y,$(strip $(FUZZ_ASAN))),address,)
fuzz-obj := $(objtree)/out-fuzz$(if $(fuzz-san),,-noasan)
fuzz-bin := $(fuzz-obj)/fuzz_api
have-clang := $(shell command -v $(CLANG) 2>/dev/null)
comma := ,
fuzz-lib-cflags := -fsanitize=fuzzer-no-link$(if $(fuzz-san),$(comma)$(fuzz-san)) \
		   -fno-omit-frame-pointer

# The library's objects for the fuzzer, by a make of their own (another
# compiler and other flags, in another tree); FORCE: that make knows when
# they are up to date.
$(fuzz-obj)/built-in.a: FORCE
	@$(MAKE) --no-print-directory -f $(srctree)/Makefile O=$(fuzz-obj) \
		CC=$(CLANG) SANITIZE= EXTRA_CFLAGS='$(fuzz-lib-cflags)' \
		EXTRA_LDFLAGS= $@

quiet_cmd_ld_fuzz = LD      $(rel)
      cmd_ld_fuzz = $(CLANG) -std=gnu11 -O2 -g -pthread $(warn-flags) \
		    $(config-defines) -fno-omit-frame-pointer \
		    -fsanitize=fuzzer$(if $(fuzz-san),$(comma)$(fuzz-san)) \
		    -I$(srctree)/include -I$(srctree)/core -o $@ $< \
		    $(fuzz-obj)/built-in.a $(URCU_LIBS)

$(fuzz-bin): $(srctree)/selftests/fuzz/fuzz_api.c \
	     $(srctree)/selftests/fuzz/fuzz.h $(fuzz-obj)/built-in.a
	$(call cmd,ld_fuzz)

fuzz: $(if $(have-clang),$(fuzz-bin) $(fuzz-seeds))
	@$(if $(have-clang),,echo '$(CLANG) not found: install clang (sh scripts/deps.sh --bench)' >&2; exit 1)
	@FUZZ_BIN=$(fuzz-bin) FUZZ_OUT=$(fuzz-obj) FUZZ_SEEDS=$(dir $(fuzz-seeds)) \
	 FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS='$(call escsq,$(FUZZ_ARGS))' \
	 $(srctree)/selftests/fuzz/run.sh

# The corruption suite's program runs only under LD_PRELOAD: not built in
# sanitizer builds, where its suite is skipped.
corrupt-progs := $(if $(SANITIZE),,$(progs-selftests/corrupt))

selftest: $(libs) $(unit-checks) $(preload-checks) $(embed-checks) \
	  $(link-checks) $(checks-selftests/host) \
	  $(progs-selftests/preload) $(progs-selftests/workloads) \
	  $(progs-selftests/fuzz) $(fuzz-seeds) $(corrupt-progs)
	@PRELOAD_LIB=$(preload-lib) LINK_LIB_DIR=$(objtree) \
		WORKLOAD_DIR=$(objtree)/selftests/workloads \
		FUZZ_DIR=$(fuzz-dir) CORRUPT_DIR=$(objtree)/selftests/corrupt \
		$(srctree)/scripts/run-suites.sh $(unit-checks) \
		$(srctree)/selftests/fuzz/replay.sh $(preload-runs)

# --- workloads, stress and demo (selftests/workloads, selftests/stress) ---

workload-dir := $(objtree)/selftests/workloads
workload-progs := $(progs-selftests/workloads)

# make stress [THREADS=16] [SCALE=1] [ITER=5]
THREADS ?= 16
SCALE ?= 1
ITER ?= 5
# make demo: the Collatz list search on glibc and on bitslab, side by side.
demo: $(libs) $(workload-progs)
	@$(srctree)/scripts/demo.sh $(workload-dir)/workload $(preload-lib)

# With clang, it ends with the fuzzer for STRESS_FUZZ_SECONDS (without,
# that test is reported as skipped).
STRESS_FUZZ_SECONDS ?= 60
stress: $(libs) $(workload-progs) $(if $(have-clang),$(fuzz-bin) $(fuzz-seeds))
	@WORKLOAD_DIR=$(workload-dir) \
	 $(if $(SANITIZE),,PRELOAD_LIB=$(preload-lib)) \
	 $(if $(have-clang),FUZZ_BIN=$(fuzz-bin) FUZZ_OUT=$(fuzz-obj) \
	   FUZZ_SEEDS=$(dir $(fuzz-seeds)) FUZZ_SECONDS=$(STRESS_FUZZ_SECONDS)) \
	 $(srctree)/selftests/stress/run.sh $(THREADS) $(SCALE) $(ITER)

# --- benchmarks (tools/bench) ---

# make bench [QUICK=1] [ONLY=regex]: every workload (or those whose names
# match ONLY) under bitslab, glibc, jemalloc, tcmalloc and mimalloc;
# results in $(objtree)/bench-results/.
bench: $(libs) $(workload-progs) $(progs-tools/bench) $(progs-selftests/corrupt)
	@BENCH_BIN=$(objtree)/tools/bench WORKLOAD=$(workload-dir)/workload \
	 CORRUPT=$(objtree)/selftests/corrupt/corrupt \
	 PRELOAD_LIB=$(preload-lib) OUT=$(objtree)/bench-results QUICK=$(QUICK) \
	 ONLY='$(call escsq,$(ONLY))' \
	 $(srctree)/tools/bench/bench.sh

# make deps [BENCH=1]: the Debian packages (apt-get update first; sudo
# only when not root).  Needs nothing installed to parse.
deps:
	@sh $(srctree)/scripts/deps.sh $(if $(filter 1 y,$(BENCH)),--bench)

PREFIX		?= /usr/local
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man

install: $(libs)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man3
	install -m 0644 $(objtree)/libbitslab.a $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(objtree)/libbitslab.so $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(srctree)/include/bitslab.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(shell sed -n 's/^#define BITSLAB_VERSION "\(.*\)"/\1/p' $(srctree)/include/bitslab.h)|' \
	    $(srctree)/scripts/bitslab.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/bitslab.pc
	install -m 0644 $(srctree)/Documentation/bitslab.3 $(DESTDIR)$(MANDIR)/man3/

clean:
	@find $(objtree) \( -name '*.o' -o -name '*.d' -o -name '*.a' \
		-o -name '*.so' \) -not -path '*/.git/*' -delete
	@rm -f $(objtree)/.flags $(all-progs) $(fuzz-bin)
	@rm -rf $(dir $(fuzz-seeds))

format:
	@clang-format -i $$(cd $(srctree) && git ls-files '*.c' '*.h' | sed 's|^|$(srctree)/|')

lint:
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr -I$(srctree)/include $(srctree)/core $(srctree)/atomics

help:
	@echo 'Targets:'
	@echo '  all        libbitslab.a (prefixed API) and libbitslab.so (malloc family)'
	@echo '  selftest   build and run the Check suites; non-zero exit on failure'
	@echo '  demo       the Collatz list search on glibc and on bitslab, side by side'
	@echo '  stress     THREADS=16 SCALE=1 ITER=5: the workloads large, API and LD_PRELOAD'
	@echo '  fuzz       FUZZ_SECONDS=60 [FUZZ_ARGS=...]: libFuzzer on the prefixed API (clang)'
	@echo '  bench      [QUICK=1] [ONLY=regex]: against glibc, jemalloc, tcmalloc, mimalloc; bench-results/'
	@echo '  deps       [BENCH=1]: install the Debian packages (scripts/deps.sh)'
	@echo '  install    PREFIX=$(PREFIX) DESTDIR= : libraries, header, bitslab.pc, man page'
	@echo '  clean      remove build products from $(objtree)'
	@echo '  format     clang-format the tree;  lint: cppcheck the library'
	@echo 'Variables:'
	@echo '  V=1        show full commands      O=dir  build out of tree'
	@echo '  SANITIZE=thread|address|undefined  sanitizer build (into out-<name>/)'
	@echo '  CONFIG_DEBUG=y  allocator invariant checks; see the top of Makefile'

.PHONY: $(PHONY)
FORCE:

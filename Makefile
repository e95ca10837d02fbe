# EphemeralML: one GNU Makefile, no autotools.
#
#   make                 build/bin/{eml,eml-proxy,eml-agent}, build/lib/libeml.{a,so}
#   make test            every test (unit, integration, conformance); TESTS=test_cur runs one
#   make test-asan       the same tests built with ASan + UBSan (no recovery) in build-asan/
#   make fuzz            every libFuzzer target for FUZZ_SECONDS (default 30) each
#   make bench           benchmarks (engine vs ONNX Runtime, channel, attestation, ...)
#   make soak            long runs: the fault drills at the limits (scripts/soak.sh, SOAK_SECONDS,
#                        600), the 50-user mixed load for 10 minutes per queue backend, 64 keyed
#                        clients at the rate-limit edge, the half-hostile 32-client soak
#                        (tests/integration/soak_hostile.sh, SOAK_HOSTILE_SECONDS, 200)
#   make demo            end-to-end confidential inference, local simulation
#   make install         PREFIX=/usr/local DESTDIR= (binaries, library, man pages,
#                        bash completion)
#   make deps            install the Debian packages the build needs (scripts/deps.sh)
#   make prove-properties  each of the fourteen property tests fails under its
#                        named fault (fault-injection build in build-fault/)
#   make lint            banned calls, raw allocation, non-ASCII, complexity,
#                        clang-format (scripts/lint.sh)
#   make clean
#   make help            this list
#
# Sources are discovered by folder, so adding a module means adding files,
# not editing this file. Per-ISA kernel files (avx2.c, avx512.c, neon.c) are
# the only ones built with ISA flags.

SHELL := /bin/bash
ifeq ($(V),1)
Q :=
else
Q := @
endif
.DEFAULT_GOAL := all

# Packages are an explicit step: `make deps` (scripts/deps.sh, a no-op when
# everything is installed). `make test` and `make demo` run it first and then
# run make again for the real work, because the pkg-config flags below are
# computed when this file is parsed: the second make sees the new packages.

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
TESTDATA ?= $(abspath testdata)
FUZZ_SECONDS ?= 30
export EML_TESTDATA := $(TESTDATA)

CC      ?= gcc
ARCH    := $(shell uname -m)
PKGS    := libcrypto libssl libprotobuf-c libsodium libcap-ng jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# The proxy's job queue and HTTP API (not in libeml).
# the proxy's own: job queues, and libmicrohttpd for its admin endpoint and
# job API (so eml, eml-agent and libeml do not link it)
JOB_PKGS   := sqlite3 hiredis libmicrohttpd
JOB_CFLAGS := $(shell pkg-config --cflags $(JOB_PKGS) 2>/dev/null)
JOB_LIBS   := $(shell pkg-config --libs $(JOB_PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)
ifeq ($(filter deps test demo clean help,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) cmocka 2>/dev/null && echo ok),ok)
$(warning development packages are missing: run `make deps` (scripts/deps.sh) first)
endif
endif

IS_CLANG := $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -1))

WARN := -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow \
	-Wcast-qual -Wcast-align -Wwrite-strings -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wformat-security -Wimplicit-fallthrough \
	-Wnull-dereference -Wvla -Wundef -Werror
HARDEN := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIC
ifeq ($(IS_CLANG),)
WARN += -Wduplicated-cond -Wduplicated-branches -Wlogical-op
HARDEN += -ftrivial-auto-var-init=zero -fzero-call-used-regs=used
endif

OPT ?= -O2 -g
# Determinism: no silent FMA contraction; kernels use FMA explicitly.
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) -ffp-contract=off $(HARDEN) \
	-fvisibility=hidden -pthread -I. -Icommon -Iinclude -I$(BUILD)/gen \
	$(PKG_CFLAGS) $(JOB_CFLAGS)
LDFLAGS_BASE := -pthread -Wl,-z,relro,-z,now,-z,noexecstack
LDLIBS := $(PKG_LIBS) -lm

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
CFLAGS_BASE += $(SANFLAGS)
LDFLAGS_BASE += $(SANFLAGS)
# Tests that compile programs against the built library need the same.
export EML_SANFLAGS := $(SANFLAGS)
else
CFLAGS_BASE += -D_FORTIFY_SOURCE=2
endif

CFLAGS  := $(CFLAGS_BASE) $(WARN) $(EXTRA_CFLAGS)
# Generated protobuf-c code: relaxed warnings, still hardened.
GEN_CFLAGS := $(CFLAGS_BASE) -w

# ---------------------------------------------------------------- sources

PROTOS     := $(wildcard proto/*.proto)
GEN_C      := $(patsubst proto/%.proto,$(BUILD)/gen/proto/%.pb-c.c,$(PROTOS))
GEN_H      := $(GEN_C:.c=.h)

COMMON_SRC := $(wildcard common/*.c)
ATTEST_SRC := $(wildcard attestation/*.c)
KERNEL_ALL := $(wildcard engine/kernels/*.c engine/kernels/*/*.c)
ifeq ($(ARCH),x86_64)
KERNEL_SRC := $(filter-out %/neon.c,$(KERNEL_ALL))
else ifeq ($(ARCH),aarch64)
KERNEL_SRC := $(filter-out %/avx2.c %/avx512.c %/avxvnni.c %/avx512vnni.c,$(KERNEL_ALL))
else
KERNEL_SRC := $(filter-out %/avx2.c %/avx512.c %/avxvnni.c %/avx512vnni.c %/neon.c,$(KERNEL_ALL))
endif
MODEL_SRC  := $(wildcard model/*.c)
ENGINE_SRC := $(wildcard engine/*.c) $(KERNEL_SRC)
AGENT_SRC  := $(wildcard enclave-agent/*.c)
PROXY_SRC  := $(wildcard host-proxy/*.c)
SDK_SRC    := $(wildcard client/sdk/*.c)
OWNER_SRC  := $(wildcard client/owner/*.c)
CLI_SRC    := $(wildcard client/cli/*.c)
# The image tools (EIF reader, writer, cpio); eif-build/init/ is the
# enclave's init, built only by `make eif`.
EIF_SRC    := $(wildcard eif-build/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

GEN_OBJ    := $(GEN_C:.c=.o)
COMMON_OBJ := $(call obj,$(COMMON_SRC))
ATTEST_OBJ := $(call obj,$(ATTEST_SRC))
MODEL_OBJ  := $(call obj,$(MODEL_SRC))
ENGINE_OBJ := $(call obj,$(ENGINE_SRC))
AGENT_OBJ  := $(call obj,$(AGENT_SRC))
PROXY_OBJ  := $(call obj,$(PROXY_SRC))
SDK_OBJ    := $(call obj,$(SDK_SRC))
OWNER_OBJ  := $(call obj,$(OWNER_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
EIF_OBJ    := $(call obj,$(EIF_SRC))

# Internal archives, one per room (DESIGN §2). Link order: high to low.
LIB_COMMON := $(BUILD)/lib/libeml_common.a
LIB_ATTEST := $(BUILD)/lib/libeml_attest.a
LIB_MODEL  := $(BUILD)/lib/libeml_model.a
LIB_ENGINE := $(BUILD)/lib/libeml_engine.a
LIB_SDK    := $(BUILD)/lib/libeml_sdk.a
LIB_OWNER  := $(BUILD)/lib/libeml_owner.a
LIB_AGENT  := $(BUILD)/lib/libeml_agent.a
LIB_PROXY  := $(BUILD)/lib/libeml_proxy.a
LIB_EIF    := $(BUILD)/lib/libeml_eif.a
LIBEML_A   := $(BUILD)/lib/libeml.a
LIBEML_SO  := $(BUILD)/lib/libeml.so
EML_SOVERSION := 0

BIN_EML   := $(BUILD)/bin/eml
BIN_AGENT := $(BUILD)/bin/eml-agent
BIN_PROXY := $(BUILD)/bin/eml-proxy

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
# Every fuzz target, linked with a plain main that replays its corpus
# (tests/fuzz/replay/replay_main.c); make test runs them.
REPLAY_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/replay/%,$(wildcard tests/fuzz/*_fuzz.c))
REPLAY_MAIN_OBJ := $(BUILD)/obj/tests/fuzz/replay/replay_main.o
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(call obj,$(TESTLIB_SRC))
CONF_SRC  := $(wildcard tests/conformance/*.c)
CONF_BIN  := $(if $(CONF_SRC),$(BUILD)/tests/conformance)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

ALL_OBJ := $(GEN_OBJ) $(COMMON_OBJ) $(ATTEST_OBJ) $(MODEL_OBJ) $(ENGINE_OBJ) \
	$(AGENT_OBJ) $(PROXY_OBJ) $(SDK_OBJ) $(OWNER_OBJ) $(CLI_OBJ) $(EIF_OBJ) $(TESTLIB_OBJ)

# ---------------------------------------------------------------- rules

.PHONY: all deps test test-run test-asan unit fuzz bench soak demo demo-run install clean lint help eif \
	prove-properties
.SECONDARY:

# Man pages and bash completion come from the programs' own option tables
# (common/eml_opt.h): the binary prints them.
MAN_PAGES  := $(BUILD)/man/eml.1 $(BUILD)/man/eml-proxy.1 $(BUILD)/man/eml-agent.1
COMPLETION := $(BUILD)/completion/eml $(BUILD)/completion/eml-proxy \
	$(BUILD)/completion/eml-agent

all: $(BIN_EML) $(BIN_AGENT) $(BIN_PROXY) $(LIBEML_A) $(LIBEML_SO) \
	$(BUILD)/lib/pkgconfig/eml.pc $(MAN_PAGES) $(COMPLETION)

help:
	@sed -n '3,/^#$$/{/^#$$/d;s/^# \{0,1\}//p;}' Makefile

$(BUILD)/man/%.1: $(BUILD)/bin/%
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	$(Q)$< --man >$@.tmp && mv $@.tmp $@

$(BUILD)/completion/%: $(BUILD)/bin/%
	@mkdir -p $(dir $@)
	$(Q)$< --completion bash >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(dir $@)
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/gen/proto $<
	@# The generated *__INIT macros cast away const from the empty string,
	@# which -Wcast-qual rejects in clang builds (fuzz); go through uintptr_t.
	$(Q)sed -i 's/(char \*)protobuf_c_empty_string/(char *)(uintptr_t)protobuf_c_empty_string/g' \
		$(BUILD)/gen/proto/$*.pb-c.h

$(BUILD)/gen/proto/%.pb-c.o: $(BUILD)/gen/proto/%.pb-c.c $(GEN_H)
	@echo "  CC      $<"
	$(Q)$(CC) $(GEN_CFLAGS) -c $< -o $@

# Every object may include generated headers: build them first, and
# rebuild everything when a .proto changes (struct layouts change with it).
$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(ISAFLAGS) -MMD -MP -c $< -o $@

# ISA flags only for the ISA files (STYLE §35).
$(BUILD)/obj/engine/kernels/%/avx2.o: ISAFLAGS := -mavx2 -mfma -mf16c -O3
$(BUILD)/obj/engine/kernels/%/avx512.o: ISAFLAGS := -mavx512f -mavx512bw \
	-mavx512dq -mavx512vl -mavx2 -mfma -mf16c -O3
# The VNNI int8 kernels (quant/) are built everywhere on x86 but run only
# when CPUID reports the extension (quant/qgemm.c).
$(BUILD)/obj/engine/kernels/%/avxvnni.o: ISAFLAGS := -mavx2 -mfma -mavxvnni -O3
$(BUILD)/obj/engine/kernels/%/avx512vnni.o: ISAFLAGS := -mavx512f -mavx512bw \
	-mavx512dq -mavx512vl -mavx512vnni -mavx2 -mfma -O3
$(BUILD)/obj/engine/kernels/%/ref.o: ISAFLAGS := -O3
$(BUILD)/obj/engine/kernels/%/neon.o: ISAFLAGS := -O3

$(LIB_COMMON): $(COMMON_OBJ) $(GEN_OBJ)
$(LIB_ATTEST): $(ATTEST_OBJ)
$(LIB_MODEL): $(MODEL_OBJ)
$(LIB_ENGINE): $(ENGINE_OBJ)
$(LIB_SDK): $(SDK_OBJ)
$(LIB_OWNER): $(OWNER_OBJ)
$(LIB_EIF): $(EIF_OBJ)
$(LIB_AGENT): $(filter-out %/main.o,$(AGENT_OBJ))
$(LIB_PROXY): $(filter-out %/main.o,$(PROXY_OBJ))
$(BUILD)/lib/libeml_%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^

# libeml: the client SDK (sdk + attestation + model formats + common).
LIBEML_OBJ := $(SDK_OBJ) $(ATTEST_OBJ) $(MODEL_OBJ) $(COMMON_OBJ) $(GEN_OBJ)
$(LIBEML_A): $(LIBEML_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^
# The shared library takes the SDK objects whole and, from the room
# archives, only the members they reach: no model writer, no signer.
$(LIBEML_SO): $(SDK_OBJ) $(LIB_ATTEST) $(LIB_MODEL) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libeml.so.$(EML_SOVERSION) $(LDFLAGS_BASE) \
		-o $@ $(SDK_OBJ) -Wl,--start-group $(LIB_ATTEST) $(LIB_MODEL) $(LIB_COMMON) \
		-Wl,--end-group $(LDLIBS)

$(BUILD)/lib/pkgconfig/eml.pc: scripts/eml.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBS@|$(PKG_LIBS) -lm|' $< > $@

CLIENT_LIBS := $(LIB_EIF) $(LIB_OWNER) $(LIB_SDK) $(LIB_ATTEST) $(LIB_ENGINE) $(LIB_MODEL) \
	$(LIB_COMMON)
AGENT_LIBS  := $(LIB_AGENT) $(LIB_ATTEST) $(LIB_ENGINE) $(LIB_MODEL) $(LIB_COMMON)
# The proxy takes one member of the model archive, the model.sig parser
# (model/eml_sig_file.c, for --strict-artifacts); proxy_isolation.sh and
# link_rooms.sh check that nothing else of model/ is linked.
PROXY_LIBS  := $(LIB_PROXY) $(LIB_MODEL) $(LIB_COMMON)
# Tests may reach every room.
TEST_LIBS   := $(LIB_EIF) $(LIB_OWNER) $(LIB_SDK) $(LIB_AGENT) $(LIB_PROXY) $(LIB_ATTEST) \
	$(LIB_ENGINE) $(LIB_MODEL) $(LIB_COMMON)

# eml loads libssl and libcrypto on its first call into them
# (client/cli/lazy_openssl.c): a stub per OpenSSL function it calls
# (x86-64; elsewhere it links them as usual).
ifeq ($(ARCH),x86_64)
OSL_LIBDIR := $(shell pkg-config --variable=libdir libssl 2>/dev/null)
OSL_STUBS  := $(BUILD)/gen/lazy_openssl_stubs.o
EML_LDLIBS := $(filter-out -lssl -lcrypto,$(LDLIBS))
else
OSL_STUBS  :=
EML_LDLIBS := $(LDLIBS)
endif
# eml links its own small dependencies from their static archives where
# the system has them (Debian's -dev packages do): the dynamic loader then
# maps and relocates two libraries instead of five, ~0.4 ms of CPU less on
# every command (issue 16). A library without its archive stays dynamic.
EML_STATIC := $(foreach l,protobuf-c sodium jansson,$(if $(filter /%,$(shell $(CC) \
	-print-file-name=lib$(l).a 2>/dev/null)),-l$(l)))
ifneq ($(EML_STATIC),)
EML_LDLIBS := -Wl,-Bstatic $(filter $(EML_STATIC),$(EML_LDLIBS)) -Wl,-Bdynamic \
	$(filter-out $(EML_STATIC),$(EML_LDLIBS))
endif
$(BUILD)/gen/lazy_openssl_stubs.S: scripts/lazy-openssl.sh $(CLI_OBJ) $(CLIENT_LIBS)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)bash scripts/lazy-openssl.sh $(OSL_LIBDIR) $(CLI_OBJ) $(CLIENT_LIBS) > $@.tmp && mv $@.tmp $@
$(OSL_STUBS): $(BUILD)/gen/lazy_openssl_stubs.S
	$(Q)$(CC) -c $< -o $@
$(BIN_EML): $(CLI_OBJ) $(CLIENT_LIBS) $(OSL_STUBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -pie -o $@ $(CLI_OBJ) $(OSL_STUBS) $(CLIENT_LIBS) $(EML_LDLIBS)
$(BIN_AGENT): $(AGENT_OBJ) $(AGENT_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -pie -o $@ $(filter %/main.o,$(AGENT_OBJ)) $(AGENT_LIBS) $(LDLIBS)
$(BIN_PROXY): $(PROXY_OBJ) $(PROXY_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -pie -o $@ $(filter %/main.o,$(PROXY_OBJ)) $(PROXY_LIBS) $(LDLIBS) \
		$(JOB_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $< $(TESTLIB_OBJ) -Wl,--start-group $(TEST_LIBS) \
		-Wl,--end-group $(LDLIBS) $(JOB_LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/conformance: $(call obj,$(CONF_SRC)) $(TESTLIB_OBJ) $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $(call obj,$(CONF_SRC)) $(TESTLIB_OBJ) \
		-Wl,--start-group $(TEST_LIBS) -Wl,--end-group $(LDLIBS) $(JOB_LIBS) $(CMOCKA_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TESTLIB_OBJ) $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $< $(TESTLIB_OBJ) -Wl,--start-group $(TEST_LIBS) \
		-Wl,--end-group $(LDLIBS) $(JOB_LIBS) $(CMOCKA_LIBS)

$(BUILD)/obj/tests/%.o: ISAFLAGS := $(CMOCKA_CFLAGS) -Itests/lib
# Fuzz targets drop some results on purpose ((void) does not silence gcc).
$(BUILD)/obj/tests/fuzz/%.o: ISAFLAGS := $(CMOCKA_CFLAGS) -Itests/lib -Wno-unused-result

# ---------------------------------------------------------------- tests

# TESTS=test_cur make test runs just those unit tests.
ifdef TESTS
RUN_ONLY := EML_SKIP_INTEGRATION=1 EML_SKIP_CONFORMANCE=1
endif
TESTS ?= $(notdir $(UNIT_BIN))

deps:
	@./scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory test-run

test-run: all $(UNIT_BIN) $(CONF_BIN) $(REPLAY_BIN)
	@BUILD=$(BUILD) $(RUN_ONLY) scripts/run-tests.sh $(TESTS)

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) EML_SKIP_INTEGRATION=1 EML_SKIP_CONFORMANCE=1 \
		scripts/run-tests.sh $(TESTS)

test-asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT="-O1 -g" test

bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) scripts/bench.sh

soak: all
	@BUILD=$(BUILD) EML_PROP_CASES=$${EML_PROP_CASES:-1000} EML_PROP_SEED=random \
		bash tests/integration/properties.sh
	@BUILD=$(BUILD) SOAK_HOSTILE_SECONDS=$${SOAK_HOSTILE_SECONDS:-200} \
		bash tests/integration/soak_hostile.sh
	@BUILD=$(BUILD) bash scripts/soak.sh
	@BUILD=$(BUILD) LOAD_SECONDS=$${LOAD_SECONDS:-600} bash scripts/bench-load.sh
	@BUILD=$(BUILD) LOAD_SECONDS=$${LOAD_SECONDS:-600} LOAD_QUEUE=redis bash scripts/bench-load.sh
	@BUILD=$(BUILD) bash tests/soak/operator_load.sh 300 64 10

lint:
	@scripts/lint.sh

# Each property test shown able to fail: the fault-injection build
# (build-fault, -DEML_FAULT_INJECTION) and one named fault per property
# (scripts/prove-properties.sh, docs/TESTING.md).
prove-properties:
	@bash scripts/prove-properties.sh

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@BUILD=$(BUILD) scripts/demo.sh

# ---------------------------------------------------------------- fuzz

FUZZ_SRC := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BUILD ?= build-fuzz

fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang SAN=1 OPT="-O1 -g" \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link -Wno-error" fuzz-bins
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz.sh \
		$(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))

fuzz-bins: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

$(BUILD)/replay/%: $(BUILD)/obj/tests/fuzz/%.o $(REPLAY_MAIN_OBJ) $(TESTLIB_OBJ) $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -o $@ $< $(REPLAY_MAIN_OBJ) $(TESTLIB_OBJ) -Wl,--start-group \
		$(TEST_LIBS) -Wl,--end-group $(LDLIBS) $(JOB_LIBS) $(CMOCKA_LIBS)

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer -o $@ $< -Wl,--start-group \
		$(TEST_LIBS) -Wl,--end-group $(LDLIBS) $(JOB_LIBS)

# ---------------------------------------------------------------- eif

# make eif KERNEL=FILE [CMDLINE="..."] [NSM_KO=FILE] [AGENT_POLICY=FILE]
#          [AGENT_PORT=5000] [AGENT_ARGS="..."] [AGENT=FILE]: the enclave image
# $(BUILD)/eif/eml-agent.eif and its predicted PCRs in
# $(BUILD)/eif/measurements.json (eif-build/make-eif.sh, docs/DEPLOY.md).
EIF_OUT := $(BUILD)/eif
# The agent goes into the image statically linked: the enclave has no
# dynamic loader. These are the libraries it needs (CBOR is our own
# attestation/eml_cbor.c, so Debian's static archives suffice); a missing
# archive stops the build rather than putting a dynamic agent in the image.
EIF_AGENT_PKGS := libcrypto libprotobuf-c libsodium libcap-ng jansson
# Paths and build ids would make the bytes depend on the checkout: no
# build id, and everything but the code stripped.
EIF_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong $(WARN)

.PHONY: eif
eif: $(BIN_EML) $(EIF_OUT)/eml-init $(EIF_OUT)/eml-agent
	@EML="$(BIN_EML)" OUT="$(EIF_OUT)" KERNEL="$(KERNEL)" CMDLINE="$(CMDLINE)" \
		NSM_KO="$(NSM_KO)" AGENT_POLICY="$(AGENT_POLICY)" AGENT_PORT="$(AGENT_PORT)" \
		$(if $(AGENT_ARGS),AGENT_ARGS="$(AGENT_ARGS)") AGENT="$(AGENT)" eif-build/make-eif.sh

$(EIF_OUT)/eml-init: eif-build/init/eml_init.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (static)"
	$(Q)$(CC) $(EIF_CFLAGS) -static -Wl,--build-id=none -o $@.tmp $<
	$(Q)strip --strip-all -o $@ $@.tmp && rm -f $@.tmp

$(EIF_OUT)/eml-agent: $(AGENT_OBJ) $(AGENT_LIBS)
	@mkdir -p $(dir $@)
	$(Q)for l in $$(pkg-config --static --libs-only-l $(EIF_AGENT_PKGS) | tr ' ' '\n' \
		| sed -n 's/^-l//p' | sort -u); do \
		case $$l in dl|pthread|m|c|rt) continue ;; esac; \
		f=$$($(CC) -print-file-name=lib$$l.a); \
		[ -f "$$f" ] || { echo "eif: no static archive lib$$l.a for the static agent" >&2; \
			exit 1; }; \
	done
	@echo "  LD      $@ (static)"
	$(Q)$(CC) -static -pthread -Wl,--build-id=none -o $@.tmp \
		$(filter %/main.o,$(AGENT_OBJ)) $(AGENT_LIBS) \
		$$(pkg-config --static --libs $(EIF_AGENT_PKGS)) -lm
	$(Q)strip --strip-all -o $@ $@.tmp && rm -f $@.tmp

# ---------------------------------------------------------------- install

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/eml $(DESTDIR)$(PREFIX)/share/eml \
		$(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(COMPLETION) $(DESTDIR)$(PREFIX)/share/bash-completion/completions/
	install -m 0755 $(BIN_EML) $(BIN_AGENT) $(BIN_PROXY) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(LIBEML_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIBEML_SO) $(DESTDIR)$(PREFIX)/lib/libeml.so.$(EML_SOVERSION)
	ln -sf libeml.so.$(EML_SOVERSION) $(DESTDIR)$(PREFIX)/lib/libeml.so
	install -m 0644 $(BUILD)/lib/pkgconfig/eml.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 0644 include/eml/*.h $(DESTDIR)$(PREFIX)/include/eml/
	# The AWS root `eml attest verify` names by default (found via <bin>/../share/eml).
	install -m 0644 attestation/roots/aws_nitro_root_g1.pem $(DESTDIR)$(PREFIX)/share/eml/

clean:
	rm -rf build build-asan build-fuzz build-fault

-include $(patsubst %.o,%.d,$(ALL_OBJ) $(call obj,$(UNIT_SRC) $(CONF_SRC) $(BENCH_SRC) $(FUZZ_SRC)))

# Thin wrapper around CMake: make deps | build | run | test | asan | fuzz.
BUILD	?= build
ASAN	?= build-asan
SOCKET	?= $(if $(XDG_RUNTIME_DIR),$(XDG_RUNTIME_DIR),/tmp)/aiofsd.sock
ROOT	?= $(CURDIR)/aiofs-root
JOBS	?= $(shell nproc 2>/dev/null || echo 2)
SUDO	:= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_PKGS = build-essential cmake pkg-config libevent-dev libprotobuf-c-dev \
	protobuf-c-compiler check libinih-dev libsystemd-dev systemd clang \
	libclang-rt-dev

.PHONY: all deps build run test asan test-asan security race-long fuzz clean

all: build

# Install the Debian packages we build and test with (idempotent).
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		    --no-install-recommends $$missing; \
	else echo "dependencies present"; fi

build:
	cmake -B $(BUILD) -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Start the daemon in the foreground on a default socket and root.
run: deps build
	@mkdir -p $(ROOT)
	@echo "aiofsd serving $(ROOT) on $(SOCKET)"
	@echo "try:  $(BUILD)/aiofs -s $(SOCKET) ping"
	@echo "      echo hi | $(BUILD)/aiofs -s $(SOCKET) write /hello.txt"
	@echo "      $(BUILD)/aiofs -s $(SOCKET) cat /hello.txt"
	@echo "stop with Ctrl-C"
	$(BUILD)/aiofsd -f -s $(SOCKET) -r $(ROOT)

# Every test: the Check suites and the CLI regress suite.
test: deps build
	cd $(BUILD) && ctest --output-on-failure

# The same tests built with AddressSanitizer and UBSan.
asan test-asan: deps
	cmake -B $(ASAN) -S . -DCMAKE_BUILD_TYPE=Debug -DAIOFS_SANITIZE=ON \
	    >/dev/null
	cmake --build $(ASAN) -j$(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure

# The security suite alone (as root: it mounts, changes uid, uses loops).
security: deps build
	tests/security/run.sh $(BUILD)

# The symlink races with many rounds (ROUNDS=400000 by default).
race-long: deps build
	tests/security/race-long.sh $(BUILD)

# libFuzzer harnesses, FUZZ_SECONDS each (clang; corpora under /tmp).
FUZZ_SECONDS ?= 60
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN)

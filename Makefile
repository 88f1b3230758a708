# camrec — the two commands the README promises:
#   make run    install ffmpeg if missing, build, start on the built-in test camera
#   make test   install test dependencies if missing, go vet, go test -race ./...
SHELL := /bin/bash
GO    ?= go
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS  ?= -device test:

.PHONY: run build test test-stress vet deps test-deps bench bench-cpu bench-auth bench-attack bench-integrations bench-upload bench-restream bench-peers bench-motion bench-churn mediamtx test-vm clean

# The version and commit stamped into the binary (camrec -version), and a
# binary without symbol tables (-s -w: 35 MB -> see the README).
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.buildVersion=$(VERSION)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o camrec .

run: deps build
	./camrec $(ARGS)

# Runtime dependency: ffmpeg (and ffprobe) from Debian.
deps:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y ffmpeg; }

# Test dependencies: ffmpeg, headless Chromium for the page test,
# systemd-analyze for the unit file test, promtool (Debian's prometheus
# package; its server is not started) for the metrics test, Mosquitto (a
# real broker, started by the MQTT tests on a loopback port), curl (the
# command MediaMTX runs on demand in the restream test), and MediaMTX, the
# media server of the restream tests, built once from the Go module proxy
# into ~/.cache/camrec/bin (about a minute on 2 cores). SeaweedFS's weed,
# the S3 server of the upload tests, is not among them: building it takes
# 25-30 min on 2 cores (see test-s3). axe-core, the accessibility rules the
# page tests run in Chromium, comes from npm (npm from Debian if missing),
# at the pinned version, into ~/.cache/camrec/npm.
AXE_VERSION := 4.14.1
AXE_DIR     := $(HOME)/.cache/camrec/npm
test-deps: deps mediamtx
	@command -v chromium >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@command -v systemd-analyze >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y systemd; }
	@command -v promtool >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus; }
	@test -x /usr/sbin/mosquitto && command -v mosquitto_passwd >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto; }
	@command -v curl >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y curl; }
	@grep -qs '"version": "$(AXE_VERSION)"' $(AXE_DIR)/node_modules/axe-core/package.json || { \
	  command -v npm >/dev/null || \
	    { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y npm; }; \
	  npm install --prefix $(AXE_DIR) --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION); }

# MediaMTX v1.12.3 (test/restream/build-mediamtx.sh): nothing when built.
mediamtx:
	@GO=$(GO) test/restream/build-mediamtx.sh

vet:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# bcrypt's cipher is built without the race detector: it is pure
# computation without goroutines of its own, and instrumented it makes a
# password check 14 times slower (1.1 s instead of 0.08 s at cost 10).
RACE_FREE := -gcflags=golang.org/x/crypto/blowfish=-race=false

test: test-deps vet
	$(GO) test -race $(RACE_FREE) -count=1 -timeout 20m ./...

# The upload tests against a real SeaweedFS: builds weed once from the Go
# module proxy into ~/.cache/camrec/bin (25-30 min on 2 cores), then runs
# them, failing if weed is missing. make test runs them too when weed is
# there, and skips them otherwise (CI does not build it).
weed:
	@GO=$(GO) test/s3/build-weed.sh

test-s3: test-deps weed
	CAMREC_S3_TESTS=1 $(GO) test -race -count=1 -timeout 20m ./internal/upload/ ./pipeline/store/ ./test/e2e/ -run 'Upload|S3|PendingUploads'

# make test three times while stress-ng keeps both cores busy: proof that no
# test depends on how fast a busy machine is (see the README, "Tests").
test-stress: test-deps
	@command -v stress-ng >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y stress-ng; }
	@stress-ng --cpu $$(nproc) --timeout 3h --quiet & pid=$$!; \
	  trap "kill $$pid 2>/dev/null" EXIT; \
	  for i in 1 2 3; do \
	    start=$$(date +%s); \
	    $(MAKE) --no-print-directory test || exit 1; \
	    echo "test-stress: run $$i of 3 passed in $$(( $$(date +%s) - start )) s"; \
	  done

# Benchmarks: the hub fan-out, the test camera, JPEG helpers.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pipeline/ ./internal/mjpeg/

# camrec's own CPU serving 10 preview clients, 1280x720 at 30 fps from test:, for 30 s.
bench-cpu: build
	$(GO) run ./test/bench/previewcpu -camrec ./camrec -clients 10 -duration 30s

# camrec's memory over an hour of preview clients coming and going (10
# steady, one more every 0.5 s staying 1-10 s), read every 5 minutes.
bench-churn: build
	$(GO) run ./test/bench/previewcpu -camrec ./camrec -clients 10 -churn 1h -sample 5m

# The same with and without auth (every client logs in with HTTP Basic), in one run.
bench-auth: build
	$(GO) run ./test/bench/previewcpu -camrec ./camrec -clients 10 -duration 20s -compare-auth

# camrec under attacks that need no credentials: a storm of wrong
# passwords (300 guessers, from one address and from a new address per
# guess) while previews, tokens, sessions and verified Basic logins are
# measured; then 3,000 slow-body connections from one address (RSS, and a
# legitimate client's latency). BASELINE=path/to/other/camrec measures
# another build after it in the same run. About 3 minutes per binary.
bench-attack: build
	$(GO) run ./test/bench/authattack -camrec ./camrec -attack storm $(if $(BASELINE),-baseline $(BASELINE))
	$(GO) run ./test/bench/authattack -camrec ./camrec -attack slow $(if $(BASELINE),-baseline $(BASELINE))

# The same plain and with MQTT (a local mosquitto) and /metrics scraped every 5 s, A B A B in one run.
bench-integrations: build
	@test -x /usr/sbin/mosquitto || { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto; }
	$(GO) run ./test/bench/previewcpu -camrec ./camrec -clients 10 -duration 20s -compare-integrations

# Upload throughput to a local SeaweedFS (loopback), one finished recording at a time.
bench-upload: weed
	$(GO) test -run '^$$' -bench Upload -benchtime 10x ./internal/upload/

# Restream + recording of a 720p30 MJPEG camera: one shared encode vs two
# (a second ffmpeg encoding the preview), A B A B, and the latency from
# capture to RTSP and RTMP readers of a local MediaMTX.
bench-restream: deps mediamtx build
	$(GO) run ./test/bench/restreamcpu -camrec ./camrec -duration 20s

# camrec against µStreamer (Debian's ustreamer, MJPEG passed through) on
# the same v4l2loopback camera in the qemu VM, A B A B, 640x480 and
# 1280x720 at 30 fps, 1, 10 and 50 clients, 20 s windows: the table goes to
# test/vm/cache/out/peers.md (and .json). About 11 minutes; needs root.
# PEERS passes options, e.g. PEERS="-peers.sizes 1280x720 -peers.clients 1,10
# -peers.baseline /work/main/before" measures a change against the build
# before it (a static binary: CGO_ENABLED=0 go build -o before . at the
# older commit) in the same boot. The VM sees the host's files under /host
# (not the host's /tmp).
bench-peers:
	@command -v ustreamer >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y ustreamer; }
	CAMREC_VM_TIMEOUT=3000 test/vm/run.sh -test.run '^TestBenchPeers$$' -test.timeout 45m -peers.bench $(PEERS)
	@cat test/vm/cache/out/peers.md

# camrec's motion detection against Motion (Debian's motion 4.5.1) on the
# same v4l2loopback camera in the qemu VM: a scripted 1280x720 30 fps MJPEG
# scene (three box crossings; noise, a lamp on and off, a slow light ramp and
# a masked blinking square that are not motion; rendered on the host by
# test/vm/motionscene) played to camrec (detection at its defaults), Motion
# and camrec without detection in turn, 2 rounds:
# CPU of each and the events each found, to test/vm/cache/out/motion-bench.md
# (and .json). About 8 minutes; needs root. MOTION passes options, e.g.
# MOTION="-motion.rounds 3"; MOTION_SIZE=640x360 plays the scene smaller.
# Results: docs/motion-bench.md.
MOTION_SIZE ?= 1280x720
bench-motion:
	@command -v motion >/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y motion; }
	mkdir -p $${CAMREC_VM_CACHE:-test/vm/cache}
	$(GO) run ./test/vm/motionscene -scene bench -size $(MOTION_SIZE) -o $${CAMREC_VM_CACHE:-test/vm/cache}/motion-bench.mjpeg
	CAMREC_VM_TIMEOUT=3000 test/vm/run.sh -test.run '^TestBenchMotion$$' -test.timeout 45m -motion.bench \
	  -motion.scene /cache/motion-bench.mjpeg -motion.size $(MOTION_SIZE) $(MOTION)
	@cat $${CAMREC_VM_CACHE:-test/vm/cache}/out/motion-bench.md

# Real V4L2 drivers (vivid, v4l2loopback) in a qemu VM; needs root. See test/vm/README.md.
test-vm:
	test/vm/run.sh

clean:
	rm -f camrec

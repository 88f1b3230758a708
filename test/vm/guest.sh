#!/bin/sh
# Runs inside the test VM (named on the kernel command line by run.sh, started
# by init.sh): loads the V4L2 drivers, puts the host's ffmpeg in PATH and runs
# the in-VM Go tests. Its exit code is the run's result.
set -eu
# The checkout may live under /tmp (CI clones anywhere), which the bind
# mounts below hide inside /host: reach it through its own mount point.
mkdir -p /src
mount --bind "$(cd "$(dirname "$0")/../.." && pwd)" /src
here=/src/test/vm
# The binaries are in run.sh's cache (CAMREC_VM_CACHE may move it, under
# /tmp too): bind it before /tmp is covered as well.
cache=$(sed -n 's/.*camrec_cache=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /cache
mount --bind "${cache:-$here/cache}" /cache
cache=/cache

modprobe vivid n_devs=1 node_types=0x1
# Two loopback devices: /dev/video10 for the MJPEG tests, /dev/video11 for
# the H.264 camera (a loopback device keeps the format its first writer set,
# so the two cannot share one).
modprobe v4l2loopback devices=2 exclusive_caps=1,1 video_nr=10,11 card_label=camrec-loopback,camrec-h264

# The host's ffmpeg and ffprobe run chrooted into the read-only host root;
# /dev, /proc, /sys and /tmp are the guest's, so paths under /tmp mean the
# same file inside and outside. The wrapper keeps the caller's directory.
for d in dev proc sys tmp; do
	mount --bind "/$d" "/host/$d"
done
# ustreamer and motion too when the host has them (make bench-peers and
# make bench-motion install them).
for p in ffmpeg ffprobe $( [ -x /host/usr/bin/ustreamer ] && echo ustreamer) $( [ -x /host/usr/bin/motion ] && echo motion); do
	cat >"/usr/local/bin/$p" <<WRAP
#!/bin/sh
exec chroot /host /bin/sh -c 'cd "\$0" 2>/dev/null || cd /; exec /usr/bin/$p "\$@"' "\$PWD" "\$@"
WRAP
	chmod 755 "/usr/local/bin/$p"
done

echo "guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus; devices: $(ls /dev/video* | tr '\n' ' ')"

set --
while IFS= read -r arg; do
	[ -n "$arg" ] && set -- "$@" "$arg"
done </out/test-args

cd "$here/vmtest"
export CAMREC_VM=1 \
	CAMREC_VM_BIN="$cache/camrec" \
	CAMREC_VM_WRITER="$cache/mjpegwriter" \
	CAMREC_VM_FFMPEG=/usr/local/bin/ffmpeg \
	CAMREC_VM_OUT=/out
exec "$cache/vmtest.test" -test.v -test.timeout 8m "$@"

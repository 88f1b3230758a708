#!/bin/busybox sh
# /init of the test VM's initramfs (built by run.sh). Mounts the kernel
# filesystems and the two 9p shares (host root read-only at /host, the
# output folder at /out), runs the script named by camrec_script= on the
# kernel command line, writes its exit code to /out/exit_code, powers off.
/bin/busybox --install -s
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TMPDIR=/tmp
mkdir -p /root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up

fail() {
	echo "init: $*"
	poweroff -f
}

for m in virtio_pci 9pnet_virtio 9p; do
	modprobe "$m" || fail "modprobe $m"
done
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" host /host || fail "mount host share"
mount -t 9p -o "$opts" out /out || fail "mount out share"

script=$(sed -n 's/.*camrec_script=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$script" ] || { echo 2 >/out/exit_code; fail "no camrec_script= on the kernel command line"; }
echo "init: running $script"
sh "$script"
rc=$?
echo "init: $script exited with $rc"
echo "$rc" >/out/exit_code
sync
umount /out
poweroff -f

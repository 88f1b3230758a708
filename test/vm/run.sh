#!/usr/bin/env bash
# Boots a stock Debian kernel under qemu (TCG) with the real vivid and
# v4l2loopback drivers and runs the in-VM Go tests (test/vm/vmtest) inside it.
#
# Usage (as root, from anywhere):  test/vm/run.sh [go test flags, e.g. -test.run TestListDevices]
#
# Works from nothing on Debian 12: installs qemu and busybox-static if missing,
# downloads the current kernel, its headers and v4l2loopback-dkms with apt,
# builds v4l2loopback.ko and a small initramfs, all cached in test/vm/cache/
# (keyed by kernel version; a warm run only rebuilds the Go binaries).
# The guest console goes to stdout. Exits non-zero on any failure, on a
# missing exit code from the guest, or on a timeout.
#
# Environment: CAMREC_VM_TIMEOUT (seconds, default 600) bounds the VM run;
# CAMREC_VM_CACHE moves the cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${CAMREC_VM_CACHE:-$here/cache}
vm_timeout=${CAMREC_VM_TIMEOUT:-600}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

t0=$SECONDS
log() { printf 'vm: [%3ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }
die() { printf 'vm: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages, qemu shares / with the guest)"
mkdir -p "$cache"
case "$cache" in *[[:space:]]*) die "the cache path must not contain spaces (make): $cache" ;; esac
# One run at a time per cache: they share the build folders and cache/out.
exec 9>"$cache/lock"
flock -w 900 9 || die "another run.sh holds $cache/lock"

# --- host packages ---------------------------------------------------------
apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	log "apt-get update"
	apt-get update -qq
	apt_updated=1
}

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
# The initramfs needs a static busybox; it also provides depmod and cpio.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing+=(busybox-static)
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
command -v go >/dev/null || die "go not found in PATH"
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt_update && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "apt-get install ${missing[*]}"
fi
bb=/bin/busybox

# --- kernel version --------------------------------------------------------
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
kpkg=$(kernel_pkg || true)
if [ -z "$kpkg" ]; then
	apt_update
	kpkg=$(kernel_pkg || true)
fi
[ -n "$kpkg" ] || die "cannot find the kernel package behind linux-image-amd64 (apt-cache depends)"
kver=${kpkg#linux-image-}
kdir=$cache/kernel-$kver
root=$kdir/root
log "kernel $kver"

# --- download and extract --------------------------------------------------
if [ ! -e "$kdir/extracted.ok" ]; then
	rm -rf "$kdir"
	mkdir -p "$kdir/debs"
	chmod 777 "$kdir/debs" # apt-get download runs as _apt
	hdr_deps=$(apt-cache depends "linux-headers-$kver" |
		awk '$1 == "Depends:" && $2 ~ /^linux-(headers|kbuild)-/ { print $2 }')
	pkgs=("$kpkg" "linux-headers-$kver" $hdr_deps v4l2loopback-dkms)
	log "downloading ${pkgs[*]}"
	(cd "$kdir/debs" && apt-get download -q "${pkgs[@]}" >/dev/null) ||
		{ apt_update && (cd "$kdir/debs" && apt-get download -q "${pkgs[@]}" >/dev/null); } ||
		die "apt-get download ${pkgs[*]}"
	mkdir -p "$root"
	for deb in "$kdir"/debs/*.deb; do
		dpkg -x "$deb" "$root"
	done
	log "depmod (full tree)"
	"$bb" depmod -b "$root" "$kver"
	rm -rf "$kdir/debs"
	touch "$kdir/extracted.ok"
fi
moddir=$root/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || die "no modules.dep in $moddir"

# --- v4l2loopback.ko -------------------------------------------------------
loop_ko=$kdir/v4l2loopback.ko
if [ ! -e "$loop_ko" ]; then
	hdr=$root/usr/src/linux-headers-$kver
	[ -d "$hdr" ] || die "no headers at $hdr"
	# The headers' Makefile includes the -common tree by absolute path.
	sed -i "s#^include /usr/src/#include $root/usr/src/#" "$hdr/Makefile"
	srcs=("$root"/usr/src/v4l2loopback-*)
	rm -rf "$kdir/v4l2loopback-build"
	cp -a "${srcs[0]}" "$kdir/v4l2loopback-build"
	log "building v4l2loopback.ko ($(basename "${srcs[0]}"))"
	make -s -C "$hdr" M="$kdir/v4l2loopback-build" modules >"$kdir/v4l2loopback-build.log" 2>&1 ||
		{ cat "$kdir/v4l2loopback-build.log" >&2; die "v4l2loopback build failed"; }
	cp "$kdir/v4l2loopback-build/v4l2loopback.ko" "$loop_ko"
fi

# --- initramfs -------------------------------------------------------------
initrd=$kdir/initramfs.cpio.gz
if [ ! -e "$initrd" ] || [ "$here/init.sh" -nt "$initrd" ] || [ "$loop_ko" -nt "$initrd" ]; then
	log "building initramfs"
	ir=$kdir/initramfs
	rm -rf "$ir"
	mkdir -p "$ir"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,proc,sys,dev,tmp,run,host,out,etc,lib/modules/"$kver"/extra}
	cp "$bb" "$ir/bin/busybox"
	install -m 755 "$here/init.sh" "$ir/init"
	# Modules wanted in the guest and everything they depend on, read off modules.dep.
	want=(vivid videodev v4l2-dv-timings 9p 9pnet_virtio virtio_pci virtio_console)
	mapfile -t mods < <(awk -v want="${want[*]}" '
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { k = w[i]; gsub(/-/, "_", k); wanted[k] = 1 } }
		{
			sub(/:$/, "", $1)
			name = $1; sub(/.*\//, "", name); sub(/\.ko(\.[a-z]+)?$/, "", name); gsub(/-/, "_", name)
			if (name in wanted) for (i = 1; i <= NF; i++) { f = $i; sub(/:$/, "", f); print f }
		}' "$moddir/modules.dep" | sort -u)
	[ ${#mods[@]} -gt 0 ] || die "no modules found in modules.dep"
	for m in "${mods[@]}"; do
		mkdir -p "$ir/lib/modules/$kver/$(dirname "$m")"
		cp "$moddir/$m" "$ir/lib/modules/$kver/$m"
	done
	cp "$loop_ko" "$ir/lib/modules/$kver/extra/"
	cp "$moddir"/modules.{order,builtin} "$ir/lib/modules/$kver/" 2>/dev/null || true
	"$bb" depmod -b "$ir" "$kver"
	(cd "$ir" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1 >"$initrd.tmp")
	mv "$initrd.tmp" "$initrd"
	log "initramfs: ${#mods[@]} modules + v4l2loopback, $(du -k "$initrd" | cut -f1) KiB"
fi

# --- Go binaries -----------------------------------------------------------
log "building camrec, mjpegwriter, vmtest.test"
cd "$repo"
export CGO_ENABLED=0
go build -trimpath -o "$cache/camrec" . || die "go build camrec failed"
go build -trimpath -o "$cache/mjpegwriter" ./test/vm/mjpegwriter || die "go build mjpegwriter failed"
go test -c -trimpath -o "$cache/vmtest.test" ./test/vm/vmtest || die "go test -c ./test/vm/vmtest failed"

# --- boot ------------------------------------------------------------------
out=$cache/out
rm -rf "$out"
mkdir -p "$out"
printf '%s\n' "$@" >"$out/test-args"
# boot runs the VM once, its console to stdout and console.log. A stock
# kernel under TCG reaches /init in ~3 s; a boot that shows no sign of
# /init within boot_timeout is killed (status 200) so that it can be tried
# again instead of burning the whole VM timeout.
boot_timeout=${CAMREC_VM_BOOT_TIMEOUT:-90}
boot() {
	rm -f "$out/exit_code" "$out/console.log"
	: >"$out/console.log"
	timeout -k 10 "$vm_timeout" qemu-system-x86_64 \
		-accel tcg -cpu max -smp 2 -m 1024 \
		-display none -nodefaults -no-reboot -nic none -serial stdio \
		-kernel "$root/boot/vmlinuz-$kver" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 camrec_script=/host$here/guest.sh camrec_cache=/host$cache" \
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$out,mount_tag=out,security_model=none" \
		</dev/null >"$out/console.log" 2>&1 &
	local qpid=$! tailpid waited=0
	tail -n +1 -f "$out/console.log" &
	tailpid=$!
	while kill -0 "$qpid" 2>/dev/null && ! grep -q '^init: ' "$out/console.log"; do
		if [ "$waited" -ge "$boot_timeout" ]; then
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			kill "$tailpid" 2>/dev/null
			return 200
		fi
		sleep 1
		waited=$((waited + 1))
	done
	local status=0
	wait "$qpid" || status=$?
	sleep 0.2
	kill "$tailpid" 2>/dev/null
	wait "$tailpid" 2>/dev/null || true
	return "$status"
}
rc=0
for attempt in 1 2; do
	log "booting (attempt $attempt, timeout ${vm_timeout}s)"
	rc=0
	boot || rc=$?
	[ "$rc" = 200 ] || break
	log "no sign of /init after ${boot_timeout}s: the boot hung, killing it"
done
[ "$rc" = 200 ] && die "the VM did not boot twice in a row"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	die "VM timed out after ${vm_timeout}s"
fi
[ "$rc" = 0 ] || die "qemu exited with $rc"
[ -s "$out/exit_code" ] || die "guest wrote no exit code (init crashed?)"
guest_rc=$(cat "$out/exit_code")
[ "$guest_rc" = 0 ] || die "guest script exited with $guest_rc"
log "ok"

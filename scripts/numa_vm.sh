#!/usr/bin/env bash
# numa_vm.sh PROGRAM [ARGS...] -- runs PROGRAM on a real two-NUMA-node x86-64 machine emulated by QEMU
# (system mode, TCG): 2 nodes x 2 CPUs x 1 GiB, Debian's stock kernel, an initramfs holding PROGRAM, every
# shared library ldd lists for it, the dynamic loader and a static /init (Tests/c/numa_vm_init.c) that
# mounts /proc, /sys, /dev, runs PROGRAM, prints `numa-vm: exit N` and powers off.
# Echoes the program's output and exits with its status; exits non-zero when the marker line is missing
# (kernel panic, timeout, qemu failure). The whole serial console is kept in build/numa-vm/console.txt.
#
# Environment:
#   NUMA_VM_EXTRA_LIBS  space- or colon-separated shared objects to add (e.g. build/lib/libbittern.so.0);
#                       they go to /lib/numa-vm-extra (on the guest's LD_LIBRARY_PATH) with their ldd deps.
#   NUMA_VM_ENV         space-separated KEY=VALUE pairs set for PROGRAM in the guest; BITTERN_* variables
#                       of this shell are passed through as well.
#   NUMA_VM_KERNEL      a vmlinuz to use instead of downloading Debian's (e.g. on a machine with no mirror).
#   NUMA_VM_KERNEL_PKG  the Debian package to take vmlinuz from (default: what linux-image-amd64 depends on).
#   NUMA_VM_TIMEOUT     seconds before the guest is killed (default 120).
#   NUMA_VM_ACCEL       QEMU accelerator (default tcg; kvm where it works).
#   NUMA_VM_APPEND      extra kernel command line. Automatic NUMA balancing is disabled so pages stay
#                       where they were placed while a test measures them.
# Arguments are passed verbatim; paths in them are guest paths (PROGRAM itself is at /test/<name>).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
prog=$1; shift
[ -x "$prog" ] || { echo "numa_vm: '$prog' is not an executable file" >&2; exit 2; }

vm=build/numa-vm
mkdir -p "$vm"
exec 9>"$vm/lock"
flock 9                                  # one guest at a time per checkout (shared staging + console)

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
updated=0
apt_update() { [ $updated -eq 1 ] || { $SUDO apt-get update -qq; updated=1; }; }

# --- tools ---------------------------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
    echo "numa_vm: installing ${need[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- kernel: Debian's, vmlinuz only (no modules: serial console, initramfs, NUMA are built in) --------
kernel=${NUMA_VM_KERNEL:-}
if [ -z "$kernel" ]; then
    kernel=$vm/vmlinuz
    if [ ! -s "$kernel" ]; then
        pkg=${NUMA_VM_KERNEL_PKG:-}
        pick() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9].*-amd64$/ {print $2; exit}'; }
        [ -n "$pkg" ] || pkg=$(pick)
        if [ -z "$pkg" ]; then apt_update; pkg=$(pick); fi
        if [ -z "$pkg" ]; then   # no meta package known: newest stock linux-image-X.Y.Z-N-amd64
            pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1)
        fi
        [ -n "$pkg" ] || { echo "numa_vm: no Debian kernel package found (set NUMA_VM_KERNEL=/path/to/vmlinuz)" >&2; exit 1; }
        echo "numa_vm: fetching $pkg (once; cached in $vm/vmlinuz)"
        dl=$(mktemp -d "$root/$vm/dl.XXXXXX")
        chmod 755 "$dl"                  # apt's sandbox user must be able to write here
        if ! (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>"$dl/err.txt"); then
            apt_update
            (cd "$dl" && apt-get download -q "$pkg" >/dev/null) || {
                cat "$dl/err.txt" >&2
                echo "numa_vm: cannot download $pkg (no mirror? set NUMA_VM_KERNEL=/path/to/vmlinuz)" >&2
                rm -rf "$dl"; exit 1; }
        fi
        # stream only boot/vmlinuz-* out of the .deb: the modules (hundreds of MB) are never written
        dpkg-deb --fsys-tarfile "$dl"/*.deb | tar -x -C "$dl" --wildcards './boot/vmlinuz-*'
        mv "$dl"/boot/vmlinuz-* "$vm/vmlinuz.tmp" && mv "$vm/vmlinuz.tmp" "$kernel"
        echo "$pkg" > "$vm/kernel-package.txt"
        rm -rf "$dl"
    fi
fi
[ -s "$kernel" ] || { echo "numa_vm: kernel '$kernel' missing" >&2; exit 1; }

# --- initramfs -------------------------------------------------------------------------------------------
init_bin=$vm/init
if [ ! -x "$init_bin" ] || [ Tests/c/numa_vm_init.c -nt "$init_bin" ]; then
    cc -O2 -static -std=c11 -Wall -Wextra -Werror -o "$init_bin" Tests/c/numa_vm_init.c
fi

stage=$vm/root
rm -rf "$stage"
mkdir -p "$stage"/{proc,sys,dev,tmp,test,lib/numa-vm-extra}
install -m 755 "$init_bin" "$stage/init"
name=$(basename "$prog")
install -m 755 "$prog" "$stage/test/$name"

libdirs=/lib/numa-vm-extra
add_deps() { # copies every library ldd lists for $1 (and the loader) to the same path in the guest
    local out
    out=$(ldd "$1" 2>&1) || { case $out in *"not a dynamic executable"*|*"statically linked"*) return 0;; esac; echo "$out" >&2; exit 1; }
    if grep -q 'not found' <<<"$out"; then echo "numa_vm: unresolved libraries for $1:" >&2; grep 'not found' <<<"$out" >&2; exit 1; fi
    local lib
    for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"); do
        if [ ! -e "$stage$lib" ]; then
            mkdir -p "$stage$(dirname "$lib")"
            cp -L "$lib" "$stage$lib"
            case ":$libdirs:" in *":$(dirname "$lib"):"*) ;; *) libdirs=$libdirs:$(dirname "$lib");; esac
        fi
    done
}
add_deps "$prog"
extras=${NUMA_VM_EXTRA_LIBS:-}
for extra in ${extras//:/ }; do
    [ -f "$extra" ] || { echo "numa_vm: NUMA_VM_EXTRA_LIBS entry '$extra' not found" >&2; exit 1; }
    cp -L "$extra" "$stage/lib/numa-vm-extra/$(basename "$extra")"
    add_deps "$extra"
done

# the command (one argument per line) and the environment (KEY=VALUE per line) for /init
{ printf '%s\n' "/test/$name"; for a in "$@"; do printf '%s\n' "$a"; done; } > "$stage/numa-vm-cmd"
{
    echo "LD_LIBRARY_PATH=$libdirs"
    env | grep '^BITTERN_' || true
    for kv in ${NUMA_VM_ENV:-}; do echo "$kv"; done
} > "$stage/numa-vm-env"

initrd=$vm/initrd.gz
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$initrd"

# --- boot ------------------------------------------------------------------------------------------------
console=$vm/console.txt
: > "$console"
set +e
timeout "${NUMA_VM_TIMEOUT:-120}" qemu-system-x86_64 \
    -machine q35 -accel "${NUMA_VM_ACCEL:-tcg}" -cpu max -smp 4 -m 2G \
    -object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=1G \
    -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1 \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 rdinit=/init numa_balancing=disable ${NUMA_VM_APPEND:-}" \
    -nographic -no-reboot -nic none < /dev/null > "$console" 2>&1
qrc=$?
set -e

# the program's lines: everything between the markers that is not a kernel message ("[    1.234] ...")
tr -d '\r' < "$console" | awk '/^numa-vm: running /{on=1; next} /^numa-vm: exit [0-9]+$/{print; exit} on && !/^\[ *[0-9]+\.[0-9]+\] /{print}'
status=$(tr -d '\r' < "$console" | sed -n 's/^numa-vm: exit \([0-9][0-9]*\)$/\1/p' | tail -n 1)
if [ -z "$status" ]; then
    if [ $qrc -eq 124 ]; then why="timed out after ${NUMA_VM_TIMEOUT:-120} s"; else why="qemu exited with $qrc"; fi
    echo "numa_vm: FAIL: no 'numa-vm: exit' line ($why); last console lines ($console):" >&2
    tr -d '\r' < "$console" | tail -n 25 >&2
    exit 1
fi
exit "$status"

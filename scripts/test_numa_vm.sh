#!/usr/bin/env bash
# Tests on a real two-NUMA-node machine: a QEMU guest (scripts/numa_vm.sh; ~10-20 s per boot under TCG).
# numa_two_node checks the guest itself (libnuma and hwloc see 2 nodes, bound memory lands on its node as
# move_pages reports, node 2 is refused). Bittern placement tests run the same way, with
# NUMA_VM_EXTRA_LIBS=build/lib/libbittern.so.0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "== two-node QEMU guest: libnuma, hwloc, move_pages"
mkdir -p build/tests
# dynamic on purpose: numa_vm.sh copies what ldd lists into the initramfs
cc -O2 -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags hwloc) -o build/tests/numa_two_node \
    Tests/c/numa_two_node.c $(pkg-config --libs hwloc) -lnuma
log=build/tests/numa_two_node_vm.txt
scripts/numa_vm.sh build/tests/numa_two_node | tee "$log"
grep -Eq '^numa-two-node: [1-9][0-9]* passed, 0 failed$' "$log" || { echo "FAIL: numa_two_node in the two-node guest" >&2; exit 1; }

echo "== two-node QEMU guest: Bittern's placement (partition, replicate) and results"
cc -O2 -std=c11 -Wall -Wextra -Werror -Iinclude -o build/tests/numa_placement Tests/c/numa_placement.c \
    -Lbuild/lib -lbittern '-Wl,-rpath,$ORIGIN/../lib'
log=build/tests/numa_placement_vm.txt
NUMA_VM_EXTRA_LIBS=build/lib/libbittern.so.0 scripts/numa_vm.sh build/tests/numa_placement | tee "$log"
grep -Eq '^numa-placement: [1-9][0-9]* passed, 0 failed$' "$log" || { echo "FAIL: numa_placement in the two-node guest" >&2; exit 1; }

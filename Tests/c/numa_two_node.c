/* Sanity test for the two-node QEMU guest (scripts/numa_vm.sh): the machine really has two NUMA nodes,
 * seen by libnuma and by hwloc, memory bound to a node lands there as the kernel reports it (move_pages),
 * and a node that does not exist is detected up front and refused by the kernel.
 * Plain C, libnuma + hwloc, no Bittern. Prints `numa-two-node: N passed, M failed`; exits 1 on failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <hwloc.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what, const char *detail) {
    if (ok) passed++; else failed++;
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail ? ": " : "", detail ? detail : "");
}

/* Allocates `bytes` on `node`, touches every page, asks the kernel where each page is. */
static void alloc_on_node(int node, size_t bytes) {
    char what[64], detail[160];
    snprintf(what, sizeof what, "8 MiB on node %d", node);
    long page = sysconf(_SC_PAGESIZE);
    char *p = numa_alloc_onnode(bytes, node);
    if (!p) { check(0, what, "numa_alloc_onnode returned NULL"); return; }
    memset(p, 0x5a, bytes);                       /* first touch: pages are allocated now */
    size_t n = bytes / (size_t)page;
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    for (size_t i = 0; i < n; i++) { pages[i] = p + i * (size_t)page; status[i] = -1; }
    long rc = move_pages(0, n, pages, NULL, status, 0);   /* nodes == NULL: query only */
    size_t on = 0, other = 0, err = 0;
    int first_other = -1;
    for (size_t i = 0; i < n; i++) {
        if (status[i] == node) on++;
        else if (status[i] < 0) err++;
        else { other++; if (first_other < 0) first_other = status[i]; }
    }
    int k = snprintf(detail, sizeof detail, "move_pages rc=%ld, %zu/%zu pages on node %d", rc, on, n, node);
    if (other) k += snprintf(detail + k, sizeof detail - k, ", %zu elsewhere (e.g. node %d)", other, first_other);
    if (err) snprintf(detail + k, sizeof detail - k, ", %zu not reported (first status %d)", err, status[0]);
    check(rc == 0 && on == n, what, detail);
    free(pages); free(status);
    numa_free(p, bytes);
}

int main(void) {
    char detail[160];
    setvbuf(stdout, NULL, _IOLBF, 0);

    int avail = numa_available();
    snprintf(detail, sizeof detail, "numa_available() = %d", avail);
    check(avail == 0, "libnuma available", detail);
    if (avail != 0) goto done;

    snprintf(detail, sizeof detail, "numa_max_node() = %d, numa_num_configured_nodes() = %d",
             numa_max_node(), numa_num_configured_nodes());
    check(numa_max_node() == 1 && numa_num_configured_nodes() == 2, "libnuma sees 2 nodes", detail);

    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
        int nn = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
        snprintf(detail, sizeof detail, "%d NUMA nodes, %d PUs", nn, npu);
        check(nn == 2, "hwloc sees 2 NUMA nodes", detail);
        /* each hwloc node owns half of the PUs, and node i's cpus agree with libnuma */
        for (int i = 0; i < nn && nn == 2; i++) {
            hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
            char set[64];
            hwloc_bitmap_list_snprintf(set, sizeof set, o->cpuset);
            int agree = 1, cnt = 0;
            for (int cpu = hwloc_bitmap_first(o->cpuset); cpu >= 0; cpu = hwloc_bitmap_next(o->cpuset, cpu)) {
                cnt++;
                if (numa_node_of_cpu(cpu) != (int)o->os_index) agree = 0;
            }
            char what[64];
            snprintf(what, sizeof what, "hwloc node %u cpus agree with libnuma", o->os_index);
            snprintf(detail, sizeof detail, "cpus %s, %llu MiB", set,
                     (unsigned long long)(o->attr->numanode.local_memory >> 20));
            check(agree && cnt == npu / 2, what, detail);
        }
        hwloc_topology_destroy(topo);
    } else {
        check(0, "hwloc topology loads", strerror(errno));
    }

    if (numa_max_node() >= 1) {
        alloc_on_node(0, 8u << 20);
        alloc_on_node(1, 8u << 20);
    }

    /* Node 2 does not exist. libnuma would silently fall back, so a caller must check first ... */
    snprintf(detail, sizeof detail, "numa_bitmask_isbitset(numa_all_nodes_ptr, 2) = %d",
             numa_bitmask_isbitset(numa_all_nodes_ptr, 2));
    check(numa_bitmask_isbitset(numa_all_nodes_ptr, 2) == 0, "node 2 is not in the allowed set", detail);
    /* ... and the kernel itself refuses a strict binding to it. */
    size_t len = 1u << 20;
    void *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned long mask = 1ul << 2;
    errno = 0;
    long r = q == MAP_FAILED ? -1 : mbind(q, len, MPOL_BIND, &mask, sizeof mask * 8, MPOL_MF_STRICT);
    int e = errno;
    snprintf(detail, sizeof detail, "mbind(MPOL_BIND, {2}) = %ld (%s)", r, r ? strerror(e) : "accepted");
    check(r == -1 && e == EINVAL, "kernel refuses binding to node 2", detail);
    if (q != MAP_FAILED) munmap(q, len);

done:
    printf("numa-two-node: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* Bittern's NUMA placement on a real two-node machine (run inside the QEMU guest by
   scripts/test_numa_vm.sh; on a one-node machine it reports that and fails).
   For `partition` and `replicate`: every slice's pages must be 100% on the node the plan intended (as
   move_pages measured them, reported by bittern_matrix_describe), and the products must equal those of a
   single-slice scalar runtime bit for bit. A policy naming a node that does not exist is an error.
   Closing line: "numa-placement: N passed, M failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bittern.h"

static int passed, failed;
#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (cond) { passed++; } else { failed++; printf("FAIL line %d: ", __LINE__); \
                                       printf(__VA_ARGS__); printf("\n"); }          \
    } while (0)

enum { ROWS = 6912, COLS = 2560, TOKENS = 3 };

static bittern_runtime *runtime(const char *policy, const char *backend) {
    bittern_runtime_params p = bittern_runtime_default_params();
    p.numa_policy = policy;
    p.backend = backend;
    bittern_runtime *rt = NULL;
    if (bittern_runtime_create(&p, &rt) != BITTERN_OK) {
        printf("runtime(%s): %s\n", policy ? policy : "auto", bittern_last_error());
        return NULL;
    }
    return rt;
}

/* Reads the integer after `key` at or after *pos; advances *pos past it. -1 if absent. */
static long long next_int(const char **pos, const char *key) {
    const char *k = strstr(*pos, key);
    if (!k) return -1;
    k += strlen(key);
    *pos = k;
    return strtoll(k, NULL, 10);
}

/* Checks every slice of the matrix: its measured bytes all on its planned node. Returns the slice count. */
static int check_slices(bittern_matrix *m, const char *policy) {
    char *json = bittern_matrix_describe(m);
    if (!json) { CHECK(0, "describe: %s", bittern_last_error()); return 0; }
    const char *pos = strstr(json, "\"slices\":[");
    int slices = 0;
    while (pos) {
        const char *p = pos;
        long long node = next_int(&p, "\"planned_node\":");
        if (node < 0) break;
        long long bytes = next_int(&p, "\"bytes\":");
        const char *per = strstr(p, "\"bytes_per_node\":[");
        if (!per) break;
        per += strlen("\"bytes_per_node\":[");
        long long on_node = 0, elsewhere = 0;
        for (int n = 0; *per && *per != ']'; n++) {
            long long v = strtoll(per, (char **)&per, 10);
            if (n == node) on_node = v; else elsewhere += v;
            if (*per == ',') per++;
        }
        CHECK(bytes > 0 && on_node == bytes && elsewhere == 0,
              "%s slice %d: planned node %lld, %lld bytes, %lld measured there, %lld elsewhere", policy, slices, node,
              bytes, on_node, elsewhere);
        printf("%s slice %d: node %lld holds %lld of %lld bytes (%.1f%%)\n", policy, slices, node, on_node, bytes,
               bytes ? 100.0 * on_node / bytes : 0);
        slices++;
        pos = per;
    }
    bittern_string_free(json);
    return slices;
}

int main(void) {
    bittern_runtime *ref_rt = runtime("none", "scalar");
    if (!ref_rt) return 1;
    char *info = bittern_runtime_describe(ref_rt);
    CHECK(info && strstr(info, "\"numa_nodes\":2"), "the guest must show 2 NUMA nodes");
    bittern_string_free(info);

    int8_t *t = malloc((size_t)ROWS * COLS), *x = malloc((size_t)TOKENS * COLS);
    int32_t *want = malloc(sizeof(int32_t) * ROWS * TOKENS), *got = malloc(sizeof(int32_t) * ROWS * TOKENS);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; t[i] = (int8_t)(s % 3) - 1; }
    for (size_t i = 0; i < (size_t)TOKENS * COLS; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; x[i] = (int8_t)(s >> 24); }
    bittern_matrix *ref = NULL;
    CHECK(bittern_matrix_from_trits(ref_rt, t, ROWS, COLS, 1.0f, &ref) == BITTERN_OK, "reference: %s", bittern_last_error());
    CHECK(bittern_matrix_gemm_i8(ref, x, TOKENS, want) == BITTERN_OK, "reference product");

    const char *policies[] = {"partition", "replicate"};
    const int expect_slices[] = {2, 2};
    for (int i = 0; i < 2; i++) {
        bittern_runtime *rt = runtime(policies[i], NULL);
        CHECK(rt != NULL, "runtime %s", policies[i]);
        if (!rt) continue;
        bittern_matrix *m = NULL;
        CHECK(bittern_matrix_from_trits(rt, t, ROWS, COLS, 1.0f, &m) == BITTERN_OK, "%s: %s", policies[i], bittern_last_error());
        if (m) {
            CHECK(check_slices(m, policies[i]) == expect_slices[i], "%s: one slice per node", policies[i]);
            memset(got, 0, sizeof(int32_t) * ROWS * TOKENS);
            CHECK(bittern_matrix_gemm_i8(m, x, TOKENS, got) == BITTERN_OK, "%s gemm", policies[i]);
            CHECK(memcmp(got, want, sizeof(int32_t) * ROWS * TOKENS) == 0, "%s: gemm differs from the single-node result", policies[i]);
            memset(got, 0, sizeof(int32_t) * ROWS);
            CHECK(bittern_matrix_gemv_i8(m, x, got) == BITTERN_OK, "%s gemv", policies[i]);
            CHECK(memcmp(got, want, sizeof(int32_t) * ROWS) == 0, "%s: gemv differs from the single-node result", policies[i]);
            bittern_matrix_free(m);
        }
        bittern_runtime_free(rt);
    }
    /* node 2 does not exist: refused, not silently placed on node 0 */
    bittern_runtime_params p = bittern_runtime_default_params();
    p.numa_policy = "partition:0,2";
    bittern_runtime *bad = NULL;
    CHECK(bittern_runtime_create(&p, &bad) == BITTERN_E_INVALID_ARGUMENT, "partition:0,2 must be refused");
    printf("refused partition:0,2: %s\n", bittern_last_error());
    bittern_runtime_free(bad);

    bittern_matrix_free(ref);
    bittern_runtime_free(ref_rt);
    free(t); free(x); free(want); free(got);
    printf("numa-placement: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

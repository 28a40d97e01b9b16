import Bittern
#if canImport(Glibc)
import Glibc
#endif

/// `bittern bench topology`: the planner at scale on a described machine. Builds a runtime on a synthetic
/// (or XML) topology with one worker per described core, places 2B4T-shaped matrices under `partition`,
/// runs GEMV and GEMM (n=8) through the real code paths with a trace of what each worker computed, and
/// checks that the integers equal a single-worker runtime's and that every worker computed only rows
/// of its own node's slice (and every row exactly once). Nothing is pinned or bound on a described
/// machine: this checks the plan and the work assignment, not the placement in memory.
struct TopologyBench {
    static let defaultSpec = "pack:2 numa:2 l3:1 core:32 pu:2"
    var spec = TopologyBench.defaultSpec
    /// (rows, cols); default: the distinct 2B4T projection shapes.
    var shapes: [(Int, Int)] = KernelBench.shapes
    var tokens = 8

    /// Prints the plan and per shape the slices and the checks; returns false on any failure.
    func run() throws -> Bool {
        let topo = try Topology.load(spec)
        var p = RuntimeParams()
        p.topology = spec
        p.threads = topo.cores
        p.numaPolicy = "partition"
        let rt = try Runtime(p)
        var single = RuntimeParams()
        single.threads = 1
        single.numaPolicy = "none"
        let ref = try Runtime(single)
        let plan = rt.plan
        var failures: [String] = []
        func check(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { failures.append(what()) } }

        print("bittern \(Version.string) bench topology -- \(topo.kind) '\(spec)': \(topo.packages) package(s), "
              + "\(topo.numaNodes) NUMA node(s), \(topo.cores) cores, \(topo.processingUnits) PUs")
        print("runtime: \(rt.threads) workers, numa_policy \(rt.numaPolicy), backend \(rt.backend.name)"
              + "; reference: 1 worker on this machine (\(ref.backend.name))")
        // The plan: one worker per core, grouped by node, each on a core of its node.
        check(plan.workers.count == topo.cores, "plan has \(plan.workers.count) workers for \(topo.cores) cores")
        check(!plan.oversubscribed, "plan is oversubscribed")
        check(Set(plan.workers.map(\.core)).count == plan.workers.count, "two workers share a core")
        check(plan.groups.map(\.node) == topo.nodes.map(\.osIndex), "groups \(plan.groups.map(\.node)) != nodes")
        for g in plan.groups {
            for w in g.workers where plan.workers[w].node != g.node || topo.coreList[plan.workers[w].core].node != g.node {
                failures.append("worker \(w) (core \(plan.workers[w].core)) is in the group of node \(g.node) but not on it")
            }
        }
        print("plan: \(plan.workers.count) workers (one per core), \(plan.groups.count) groups: "
              + plan.groups.map { "node \($0.node): \($0.workers.count) (w\($0.workers.lowerBound)-w\($0.workers.upperBound - 1))" }
                  .joined(separator: ", "))

        var rng = Rng(seed: 0xB177E2)
        for (rows, cols) in shapes {
            var trits = [Int8](repeating: 0, count: rows * cols)
            trits.withUnsafeMutableBufferPointer { rng.fillTrits($0) }
            let m = try TernaryMatrix(runtime: rt, trits: trits, rows: rows, cols: cols, alpha: 1)
            let r = try TernaryMatrix(runtime: ref, trits: trits, rows: rows, cols: cols, alpha: 1)
            trits = []
            // Slices: one per group with rows, exactly the plan's split, on the group's node.
            let slices = m.sliceInfo
            let split = plan.splitRows(rows)
            let expected = split.enumerated().filter { !$0.element.isEmpty }
            check(slices.count == expected.count, "\(rows)x\(cols): \(slices.count) slices, expected \(expected.count)")
            for (s, (g, range)) in zip(slices, expected) {
                check(s.group == g && s.node == plan.groups[g].node && s.rows == range,
                      "\(rows)x\(cols): slice \(s.rows) (group \(s.group ?? -1), node \(s.node ?? -1)) != group \(g)'s \(range)")
            }
            print("\(rows)x\(cols): " + slices.map { s in
                "node \(s.node.map(String.init) ?? "-"): rows \(s.rows.lowerBound)..<\(s.rows.upperBound) (\(s.rows.count), \(s.bytes / 1024) KiB)"
            }.joined(separator: ", "))

            var x = [Int8](repeating: 0, count: tokens * cols)
            x.withUnsafeMutableBufferPointer { rng.fillInt8($0) }
            for n in [1, tokens] {
                let a = QuantizedActivations(int8: x, n: n, cols: cols)
                defer { a.deallocate() }
                var got = [Int32](repeating: 0, count: n * rows)
                var want = [Int32](repeating: 1, count: n * rows)
                // Each worker appends to its own entry only: no lock needed.
                let items = UnsafeMutablePointer<[TernaryMatrix.WorkItem]>.allocate(capacity: plan.workers.count)
                items.initialize(repeating: [], count: plan.workers.count)
                defer { items.deinitialize(count: plan.workers.count); items.deallocate() }
                try got.withUnsafeMutableBufferPointer { y in
                    try m.multiply(a, into: y.baseAddress!, trace: { items[$0.worker].append($0) })
                }
                try want.withUnsafeMutableBufferPointer { try r.multiply(a, into: $0.baseAddress!) }
                let name = n == 1 ? "gemv" : "gemm n=\(n)"
                check(got == want, "\(rows)x\(cols) \(name): results differ from the single-worker runtime's")
                // Ownership: each item's rows inside its slice, the slice owned by the worker's group.
                var all: [Range<Int>] = []
                var activePerNode: [Int: Int] = [:]
                for w in 0..<plan.workers.count where !items[w].isEmpty {
                    activePerNode[plan.workers[w].node, default: 0] += 1
                    for it in items[w] {
                        let s = slices[it.slice]
                        let g = plan.group(ofWorker: w)
                        check(s.group == g && s.node == plan.workers[w].node && s.rows.contains(it.rows.lowerBound)
                              && it.rows.upperBound <= s.rows.upperBound,
                              "\(rows)x\(cols) \(name): worker \(w) (node \(plan.workers[w].node)) computed rows \(it.rows) of slice \(s.rows) on node \(s.node ?? -1)")
                        all.append(it.rows)
                    }
                }
                // Every row exactly once.
                all.sort { $0.lowerBound < $1.lowerBound }
                var next = 0
                var covered = true
                for range in all {
                    if range.lowerBound != next { covered = false; break }
                    next = range.upperBound
                }
                check(covered && next == rows, "\(rows)x\(cols) \(name): rows not covered exactly once by the workers")
                print("  \(pad(name, 9, left: true)): \(got == want ? "equal" : "DIFFERENT"), \(all.count) work items, active workers per node: "
                      + plan.groups.map { "\($0.node):\(activePerNode[$0.node] ?? 0)" }.joined(separator: " "))
            }
        }
        if failures.isEmpty {
            print("topology bench: ok")
            return true
        }
        for f in failures { print("FAIL: \(f)") }
        print("topology bench: FAILED (\(failures.count) check(s))")
        return false
    }
}

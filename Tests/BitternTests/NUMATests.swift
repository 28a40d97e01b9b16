import Testing
@testable import Bittern
#if canImport(Glibc)
import Glibc
#endif

@Suite struct WorkerPlanTests {
    static let hybridXML: String = {
        let file = "\(#filePath)"
        return String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/hybrid.xml"
    }()

    /// 2 packages x 2 nodes x 8 cores x SMT 2: one worker per core (32), first PU of each core,
    /// grouped by node (8 each), rows split 4 ways in proportion.
    @Test func syntheticTwoPackagesFourNodes() throws {
        let t = try Topology.load("pack:2 numa:2 l3:1 core:8 pu:2")
        #expect(t.nodes.map(\.osIndex) == [0, 1, 2, 3])
        #expect(t.coreList.count == 32 && t.processingUnits == 64)
        #expect(t.coreList[9].pus == [18, 19] && t.coreList[9].node == 1 && t.coreList[9].package == 0)
        #expect(t.coreList[17].package == 1 && t.coreList[17].node == 2)
        let plan = WorkerPlan(topology: t)
        #expect(plan.workers.count == 32 && !plan.oversubscribed)
        #expect(plan.groups.map(\.node) == [0, 1, 2, 3])
        #expect(plan.groups.map(\.workers.count) == [8, 8, 8, 8])
        for g in plan.groups {
            for w in g.workers {
                let wk = plan.workers[w]
                #expect(wk.node == g.node && t.coreList[wk.core].node == g.node)
                #expect(wk.pu == t.coreList[wk.core].pus[0], "first PU only: no SMT sibling")
            }
        }
        #expect(Set(plan.workers.map(\.core)).count == 32)
        let split = plan.splitRows(6912)
        #expect(split.map(\.count) == [1728, 1728, 1728, 1728])
        #expect(split.first?.lowerBound == 0 && split.last?.upperBound == 6912)
        // SMT asked: 64 workers, every core's first PU before any sibling.
        let smt = WorkerPlan(topology: t, smt: true)
        #expect(smt.workers.count == 64 && Set(smt.workers.map(\.pu)).count == 64)
        // Capped: round-robin over nodes, then grouped, split in proportion (3,2,2,2 -> rows).
        let capped = WorkerPlan(topology: t, threads: 9)
        #expect(capped.groups.map(\.workers.count) == [3, 2, 2, 2])
        let rows = capped.splitRows(900)
        #expect(rows.map(\.count) == [304, 192, 208, 196])
        #expect(rows.map(\.lowerBound).allSatisfy { $0 % 16 == 0 })
    }

    @Test func acceptanceScale128Workers() throws {
        let plan = WorkerPlan(topology: try Topology.load("pack:2 numa:2 l3:1 core:32 pu:2"))
        #expect(plan.workers.count == 128 && plan.groups.count == 4)
        #expect(plan.groups.allSatisfy { $0.workers.count == 32 })
        #expect(plan.splitRows(6912).map(\.count) == [1728, 1728, 1728, 1728])
    }

    @Test func hybridCoresPerformanceFirst() throws {
        let t = try Topology.load(WorkerPlanTests.hybridXML)
        #expect(t.kind == "xml" && !t.isThisSystem)
        #expect(t.kinds.count == 2 && t.kinds[0].coreType == "IntelCore" && t.kinds[1].coreType == "IntelAtom")
        #expect(t.coreList.map(\.kindRank) == [1, 1, 1, 1, 0, 0])
        let plan = WorkerPlan(topology: t)
        #expect(plan.workers.map(\.core) == [4, 5, 0, 1, 2, 3])
        #expect(WorkerPlan(topology: t, threads: 2).workers.map(\.core) == [4, 5])
        #expect(WorkerPlan(topology: t, threads: 2).workers.map(\.pu) == [8, 10])
    }

    @Test func oneCoreMachine() throws {
        let t = try Topology.load("core:1")
        let plan = WorkerPlan(topology: t)
        #expect(plan.workers.count == 1 && plan.groups.count == 1 && !plan.oversubscribed)
        #expect(WorkerPlan(topology: t, threads: 3).oversubscribed)
        var p = RuntimeParams()
        p.topology = "core:1"
        p.threads = 1
        let rt = try Runtime(p)
        #expect(rt.plan.workers.count == 1 && !rt.pinning && rt.pinningNote != nil)
    }

    @Test func policiesNamingMissingNodesAreErrors() throws {
        var p = RuntimeParams()
        p.topology = "pack:2 numa:2 core:2 pu:1"
        p.threads = 2
        p.numaPolicy = "partition:1,3"
        let rt = try Runtime(p)
        #expect(rt.policyNodes == [1, 3] && rt.plan.groups.map(\.node) == [1, 3])
        for bad in ["partition:4", "replicate:0,9", "partition:x", "partition:", "scatter:0"] {
            p.numaPolicy = bad
            #expect(throws: BitternError.self, "\(bad)") { _ = try Runtime(p) }
        }
        // On this machine: a node beyond the last one is refused too.
        var here = RuntimeParams()
        here.threads = 1
        here.numaPolicy = "partition:\(Int(numa_max_node_here()) + 1)"
        #expect(throws: BitternError.self) { _ = try Runtime(here) }
    }

    /// Every policy and plan gives the same integers as the reference.
    @Test(arguments: ["partition", "replicate", "interleave", "none"])
    func policiesGiveIdenticalResults(policy: String) throws {
        var rng = TestRng(21)
        let (rows, cols, n) = (1031, 777, 3)
        let t = rng.trits(rows * cols)
        let x = rng.int8s(n * cols)
        let want = referenceProduct(t, rows: rows, cols: cols, x, n: n)
        for (topo, threads) in [("pack:2 numa:2 core:2 pu:1", 5), ("pack:2 numa:2 l3:1 core:8 pu:2", 3), (nil, 2)] as [(String?, Int)] {
            var p = RuntimeParams()
            p.topology = topo
            p.threads = threads
            p.numaPolicy = policy
            let rt = try Runtime(p)
            let m = try TernaryMatrix(runtime: rt, trits: t, rows: rows, cols: cols, alpha: 1)
            if policy == "partition" { #expect(m.slices.count == min(rt.plan.groups.count, threads)) }
            if policy == "partition" {
                for s in m.slices { #expect(s.rowBegin % 16 == 0) }
                #expect(m.slices.reduce(0) { $0 + $1.rows } == rows)
            }
            var y = [Int32](repeating: 0, count: n * rows)
            try m.multiplyInt8(x, n: n, into: &y)
            #expect(y == want, "\(policy) \(topo ?? "host") gemm")
            var y1 = [Int32](repeating: 0, count: rows)
            try m.multiplyInt8(Array(x[0..<cols]), n: 1, into: &y1)
            #expect(y1 == Array(want[0..<rows]), "\(policy) \(topo ?? "host") gemv")
        }
    }

    /// On this machine, explicit policies place every byte on node 0 (the only node here) as measured
    /// by move_pages; the runtime reports it.
    @Test(arguments: ["partition", "replicate", "interleave", "none"])
    func placementOnThisMachineIsMeasured(policy: String) throws {
        var p = RuntimeParams()
        p.numaPolicy = policy
        p.threads = 2
        let rt = try Runtime(p)
        #expect(rt.topology.isThisSystem)
        var rng = TestRng(3)
        let (rows, cols) = (512, 2560)
        let m = try TernaryMatrix(runtime: rt, trits: rng.trits(rows * cols), rows: rows, cols: cols, alpha: 1)
        let measured = m.measuredBytesPerNode
        guard !measured.isEmpty else { return } // kernel without move_pages
        let total = m.slices.reduce(0) { $0 + $1.bytes }
        if rt.topology.numaNodes == 1 {
            #expect(measured == [total], "\(policy): \(measured)")
            if rt.bindsMemory && policy != "none" { let all = m.slices.allSatisfy { $0.numaAllocated }; #expect(all) }
        } else if policy == "partition" || policy == "replicate" {
            for s in m.slices {
                let perNode = NodeMemory.bytesPerNode(UnsafeRawPointer(s.buffer), length: s.bytes)
                #expect(perNode.count > s.node! && perNode[s.node!] == s.bytes)
            }
        }
        let json = rt.json.serialized()
        #expect(json.contains("\"weights_bytes_per_node\":[") && json.contains("\"plan\":{") && json.contains("\"pinned\""))
        #expect(m.json.serialized().contains("\"bytes_per_node\":[\(measured.map(String.init).joined(separator: ","))]"))
    }

    @Test func pinnedPoolOnThisMachine() throws {
        var p = RuntimeParams()
        p.threads = 2
        let rt = try Runtime(p)
        let cores = rt.hostTopology.cores
        #expect(rt.pinning == (cores >= 2))
        #expect(rt.pool.pinned[0] == false)
        if cores >= 2 { #expect(rt.pool.pinned[1]) }
        // More threads than cores: never pinned.
        p.threads = rt.hostTopology.processingUnits + 1
        let over = try Runtime(p)
        #expect(!over.pinning && over.pool.pinned.allSatisfy { !$0 })
    }
}

func numa_max_node_here() -> Int32 { Int32(NodeMemory.maxNode) }

/// The check of `bittern bench topology`, in process: a runtime on the 128-worker synthetic machine
/// (one worker per described core, partition), GEMV and GEMM n=8 traced through the real code path.
/// Results equal a single-worker runtime's; every worker computes only rows of its own node's slice,
/// and every row is computed exactly once.
@Suite struct TopologyScaleTests {
    @Test(arguments: [(1728, 640), (16, 64), (1000, 333)])
    func partitionAt128WorkersComputesOnlyOwnSlices(shape: (Int, Int)) throws {
        let (rows, cols) = shape
        let spec = "pack:2 numa:2 l3:1 core:32 pu:2"
        var p = RuntimeParams()
        p.topology = spec
        p.threads = try Topology.load(spec).cores
        p.numaPolicy = "partition"
        let rt = try Runtime(p)
        var one = RuntimeParams()
        one.threads = 1
        one.numaPolicy = "none"
        let ref = try Runtime(one)
        let plan = rt.plan
        #expect(plan.workers.count == 128 && plan.groups.map(\.workers.count) == [32, 32, 32, 32])
        var rng = TestRng(77)
        let t = rng.trits(rows * cols)
        let m = try TernaryMatrix(runtime: rt, trits: t, rows: rows, cols: cols, alpha: 1)
        let r = try TernaryMatrix(runtime: ref, trits: t, rows: rows, cols: cols, alpha: 1)
        let slices = m.sliceInfo
        let split = plan.splitRows(rows)
        #expect(slices.map(\.rows) == split.filter { !$0.isEmpty })
        for s in slices { #expect(s.group.map { plan.groups[$0].node } == s.node) }
        let x = rng.int8s(8 * cols)
        for n in [1, 8] {
            let a = QuantizedActivations(int8: x, n: n, cols: cols)
            defer { a.deallocate() }
            var got = [Int32](repeating: 0, count: n * rows)
            var want = [Int32](repeating: 1, count: n * rows)
            let items = UnsafeMutablePointer<[TernaryMatrix.WorkItem]>.allocate(capacity: plan.workers.count)
            items.initialize(repeating: [], count: plan.workers.count)
            defer { items.deinitialize(count: plan.workers.count); items.deallocate() }
            try m.multiply(a, into: &got, trace: { items[$0.worker].append($0) })
            try r.multiply(a, into: &want)
            #expect(got == want, "n=\(n)")
            var all: [Range<Int>] = []
            for w in 0..<plan.workers.count {
                for it in items[w] {
                    let s = slices[it.slice]
                    #expect(it.worker == w && s.group == plan.group(ofWorker: w) && s.node == plan.workers[w].node,
                            "n=\(n): worker \(w) computed rows \(it.rows) of node \(s.node ?? -1)'s slice")
                    #expect(it.rows.lowerBound >= s.rows.lowerBound && it.rows.upperBound <= s.rows.upperBound)
                    all.append(it.rows)
                }
            }
            all.sort { $0.lowerBound < $1.lowerBound }
            var next = 0
            for range in all {
                #expect(range.lowerBound == next, "n=\(n): rows computed twice or skipped at \(next)")
                next = range.upperBound
            }
            #expect(next == rows)
        }
    }
}

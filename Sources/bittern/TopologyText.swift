import Bittern

/// The worker plan as text: per NUMA node, its workers' cores and PUs and whether they are pinned.
func planText(_ rt: Runtime) -> String {
    let plan = rt.plan
    var s = "plan: \(plan.workers.count) workers (\(plan.smt ? "SMT siblings used" : "one per core"))"
    s += ", numa_policy \(rt.numaPolicy)"
    s += rt.pinning ? ", worker threads pinned (worker 0 is the caller's thread: not pinned)\n" : ", not pinned\n"
    if let note = rt.pinningNote { s += "  note: \(note)\n" }
    for g in plan.groups {
        let cores = g.workers.map { w -> String in
            let wk = plan.workers[w]
            return "w\(w)=core \(wk.core)/PU \(wk.pu)" + (wk.kindRank > 0 ? " (kind \(wk.kindRank))" : "")
        }
        s += "  node \(g.node): \(g.workers.count) workers: " + cores.joined(separator: ", ") + "\n"
    }
    return s
}

/// Where a matrix's slices are, as measured.
func placementText(_ m: TernaryMatrix) -> String {
    var s = "placement of a \(m.rows) x \(m.cols) matrix (\(m.backend.name), \(m.placement)): \(m.packedBytes) bytes\n"
    let measured = m.measuredBytesPerNode
    s += "  measured bytes per node (move_pages): "
    s += measured.isEmpty ? "unavailable\n" : measured.enumerated().map { "node \($0.offset): \($0.element)" }.joined(separator: ", ") + "\n"
    return s
}

/// Which core each worker runs on, grouped by NUMA node: the plan the pool, the placement of matrix
/// rows and the reports share.
///
/// Default: one worker per physical core (its first PU), performance cores first; SMT siblings are used
/// only when asked (then after every core's first PU). A thread count caps the list: the first workers
/// are taken round-robin across NUMA nodes (so a capped plan still spreads over every node's memory
/// bandwidth); more workers than slots wrap around (oversubscribed: never pinned). Workers are then
/// ordered by node, so each node's workers form one contiguous group; worker 0 (the caller's thread)
/// belongs to the first group.
public struct WorkerPlan: Sendable, Equatable {
    public struct Worker: Sendable, Equatable {
        /// Core index in the topology (Topology.Core.index).
        public let core: Int
        /// OS index of the PU the worker is meant to run on.
        public let pu: Int
        /// OS index of its NUMA node.
        public let node: Int
        /// Efficiency rank of its core's kind (0: performance).
        public let kindRank: Int
    }

    /// The workers of one NUMA node: indices `workers` into `WorkerPlan.workers`.
    public struct Group: Sendable, Equatable {
        public let node: Int
        public let workers: Range<Int>
    }

    public let workers: [Worker]
    public let groups: [Group]
    /// More workers than cores (or PUs with SMT): some share a core.
    public let oversubscribed: Bool
    public let smt: Bool

    /// `threads` <= 0: one worker per slot. `nodes`: only cores of these NUMA nodes (OS indices).
    public init(topology: Topology, threads: Int = 0, smt: Bool = false, nodes: [Int]? = nil) {
        var cores = topology.coreList
        if let nodes { cores = cores.filter { nodes.contains($0.node) } }
        if cores.isEmpty {
            cores = [Topology.Core(index: 0, package: 0, node: topology.nodes.first?.osIndex ?? 0, pus: [0], kindRank: 0)]
        }
        let nodeOrder = topology.nodes.map(\.osIndex)
        func nodeRank(_ n: Int) -> Int { nodeOrder.firstIndex(of: n) ?? nodeOrder.count }
        // Slots: (sibling level, core). Level 0 = each core's first PU; level k = its k-th SMT sibling.
        struct Slot { let level: Int; let core: Topology.Core; let pu: Int; let posInNode: Int }
        var slots: [Slot] = []
        let maxLevel = smt ? (cores.map { max(1, $0.pus.count) }.max() ?? 1) : 1
        for level in 0..<maxLevel {
            // Position among the cores of the same node and kind, for the round-robin over nodes.
            var seen: [String: Int] = [:]
            for c in cores.sorted(by: { ($0.kindRank, $0.index) < ($1.kindRank, $1.index) }) {
                guard level == 0 || level < c.pus.count else { continue }
                let key = "\(c.node)/\(c.kindRank)"
                let pos = seen[key, default: 0]
                seen[key] = pos + 1
                slots.append(Slot(level: level, core: c, pu: c.pus.isEmpty ? c.index : c.pus[level], posInNode: pos))
            }
        }
        // Selection order: sibling level, then performance first, then round-robin over nodes.
        slots.sort {
            ($0.level, $0.core.kindRank, $0.posInNode, nodeRank($0.core.node), $0.core.index)
                < ($1.level, $1.core.kindRank, $1.posInNode, nodeRank($1.core.node), $1.core.index)
        }
        let n = threads > 0 ? threads : slots.count
        let chosen = (0..<n).map { (order: $0, slot: slots[$0 % slots.count]) }
        // Group by node (stable: within a node, selection order, so performance cores come first).
        let ordered = chosen.sorted { (nodeRank($0.slot.core.node), $0.order) < (nodeRank($1.slot.core.node), $1.order) }
        workers = ordered.map { Worker(core: $0.slot.core.index, pu: $0.slot.pu, node: $0.slot.core.node, kindRank: $0.slot.core.kindRank) }
        var groups: [Group] = []
        var start = 0
        for i in 1...workers.count where i == workers.count || workers[i].node != workers[start].node {
            groups.append(Group(node: workers[start].node, workers: start..<i))
            start = i
        }
        self.groups = groups
        oversubscribed = n > slots.count
        self.smt = smt
    }

    /// The group (index into `groups`) of worker w.
    public func group(ofWorker w: Int) -> Int {
        groups.firstIndex { $0.workers.contains(w) } ?? 0
    }

    /// Splits `rows` into one contiguous range per group, in proportion to each group's workers, with
    /// boundaries on multiples of `grain` (so kernels see aligned row ranges). Ranges may be empty.
    public func splitRows(_ rows: Int, grain: Int = 16) -> [Range<Int>] {
        let total = workers.count
        let units = (rows + grain - 1) / grain
        var out: [Range<Int>] = []
        var cum = 0
        for g in groups {
            let b = min(rows, units * cum / total * grain)
            cum += g.workers.count
            let e = cum == total ? rows : min(rows, units * cum / total * grain)
            out.append(b..<max(b, e))
        }
        return out
    }
}

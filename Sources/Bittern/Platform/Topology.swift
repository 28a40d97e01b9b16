import CHwloc
#if canImport(Glibc)
import Glibc
#endif

/// What hwloc says about a machine: this one, or one described by a synthetic string or an XML file
/// (for tests and capacity planning): packages, NUMA nodes, caches, and every core with its PUs (SMT
/// siblings), NUMA node and kind (hybrid performance/efficiency cores). `WorkerPlan` turns it into the
/// worker-to-core plan.
public struct Topology: Sendable {
    /// A NUMA node: its OS index (what libnuma and the kernel call it) and its local memory.
    public struct Node: Sendable, Equatable {
        public let osIndex: Int
        public let memoryBytes: UInt64
    }

    /// A physical core (or a PU when the machine reports no cores).
    public struct Core: Sendable, Equatable {
        /// hwloc logical index of the core (0..<cores, in topology order).
        public let index: Int
        /// Logical index of its package.
        public let package: Int
        /// OS index of its NUMA node (the first node of its nodeset; 0 when none).
        public let node: Int
        /// OS indices of its PUs (hardware threads), first one first: the SMT siblings.
        public let pus: [Int]
        /// Efficiency rank of its kind: 0 = the most performant kind. All 0 on a homogeneous machine.
        public let kindRank: Int
    }

    /// A kind of core (hwloc cpukinds), most performant first.
    public struct CoreKind: Sendable, Equatable {
        /// hwloc's efficiency value (higher = more performant), -1 when unknown.
        public let efficiency: Int
        /// The "CoreType" info attribute when hwloc has one (e.g. "IntelCore", "IntelAtom").
        public let coreType: String?
        /// OS indices of its PUs.
        public let pus: [Int]
    }

    /// "this machine", "synthetic", or "xml"
    public let kind: String
    /// The synthetic string or XML path it was loaded from (nil for this machine).
    public let source: String?
    /// True only when the topology describes the machine we run on (binding is meaningful).
    public let isThisSystem: Bool
    public let packages: Int
    public let nodes: [Node]
    public let coreList: [Core]
    public let kinds: [CoreKind]
    public let processingUnits: Int
    /// Cache sizes in bytes of the first cache of each level (0 when the level is absent).
    public let l1dBytes: UInt64
    public let l2Bytes: UInt64
    public let l3Bytes: UInt64

    public var numaNodes: Int { max(1, nodes.count) }
    public var cores: Int { max(1, coreList.count) }
    /// A note for reports: why binding is skipped on this topology (nil when it is this system).
    public var bindingNote: String? {
        isThisSystem ? nil : "this topology (\(kind)) does not describe this machine: threads are not pinned and memory is not bound"
    }

    /// Loads the topology. `spec` nil: this machine. Otherwise a path to an existing file is read as
    /// hwloc XML, anything else as a synthetic description.
    public static func load(_ spec: String?) throws -> Topology {
        var topo: hwloc_topology_t?
        guard hwloc_topology_init(&topo) == 0, let t = topo else {
            throw BitternError.internal("hwloc_topology_init failed")
        }
        defer { hwloc_topology_destroy(t) }
        var kind = "this machine"
        if let spec {
            if access(spec, F_OK) == 0 {
                kind = "xml"
                guard hwloc_topology_set_xml(t, spec) == 0 else {
                    throw BitternError.invalidArgument("topology: cannot read hwloc XML file '\(spec)'")
                }
            } else {
                kind = "synthetic"
                // hwloc wants PUs as the last level; "core:4" means one PU per core.
                guard hwloc_topology_set_synthetic(t, spec) == 0
                        || (!spec.contains("pu:") && hwloc_topology_set_synthetic(t, spec + " pu:1") == 0) else {
                    throw BitternError.invalidArgument(
                        "topology: '\(spec)' is neither an existing XML file nor a valid hwloc synthetic description")
                }
            }
        }
        guard hwloc_topology_load(t) == 0 else {
            throw BitternError.invalidArgument("topology: hwloc could not load '\(spec ?? "this machine")'")
        }
        func count(_ type: hwloc_obj_type_t) -> Int { Int(max(0, hwloc_get_nbobjs_by_type(t, type))) }
        func objects(_ type: hwloc_obj_type_t) -> [hwloc_obj_t] {
            (0..<count(type)).compactMap { hwloc_get_obj_by_type(t, type, UInt32($0)) }
        }
        func cacheSize(_ type: hwloc_obj_type_t) -> UInt64 {
            // The first data or unified cache of that level.
            for obj in objects(type) {
                guard let attr = obj.pointee.attr else { continue }
                if attr.pointee.cache.type != HWLOC_OBJ_CACHE_INSTRUCTION { return attr.pointee.cache.size }
            }
            return 0
        }
        func bits(_ set: hwloc_const_bitmap_t?) -> [Int] {
            guard let set else { return [] }
            var out: [Int] = []
            var i = hwloc_bitmap_first(set)
            while i >= 0 && out.count < 1 << 20 {
                out.append(Int(i))
                i = hwloc_bitmap_next(set, i)
            }
            return out
        }

        let nodes = objects(HWLOC_OBJ_NUMANODE).map { n in
            Node(osIndex: Int(n.pointee.os_index), memoryBytes: n.pointee.attr?.pointee.numanode.local_memory ?? 0)
        }

        // Kinds: hwloc lists them from the least to the most efficient-as-in-performant ("efficiency"
        // ranks power efficiency: kind 0 is the most power-efficient, the last the most performant).
        var kinds: [CoreKind] = []
        let nKinds = Int(max(0, hwloc_cpukinds_get_nr(t, 0)))
        if nKinds > 0, let set = hwloc_bitmap_alloc() {
            defer { hwloc_bitmap_free(set) }
            for k in 0..<nKinds {
                var efficiency: Int32 = -1
                var nInfos: UInt32 = 0
                var infos: UnsafeMutablePointer<hwloc_info_s>?
                guard hwloc_cpukinds_get_info(t, UInt32(k), set, &efficiency, &nInfos, &infos, 0) == 0 else { continue }
                var coreType: String?
                for i in 0..<Int(nInfos) {
                    if let info = infos?[i], let name = info.name, String(cString: name) == "CoreType", let v = info.value {
                        coreType = String(cString: v)
                    }
                }
                kinds.append(CoreKind(efficiency: Int(efficiency), coreType: coreType, pus: bits(set)))
            }
            kinds.reverse() // most performant first
        }
        func rank(ofPU pu: Int) -> Int {
            kinds.firstIndex { $0.pus.contains(pu) } ?? 0
        }

        let pus = max(1, count(HWLOC_OBJ_PU))
        let coreType = count(HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU
        let coreList = objects(coreType).enumerated().map { (i, c) -> Core in
            let puList = bits(c.pointee.cpuset)
            let node = bits(c.pointee.nodeset).first.flatMap { n in nodes.contains { $0.osIndex == n } ? n : nil }
            var package = 0
            if let p = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, c) { package = Int(p.pointee.logical_index) }
            return Core(index: i, package: package, node: node ?? nodes.first?.osIndex ?? 0, pus: puList,
                        kindRank: puList.first.map(rank(ofPU:)) ?? 0)
        }
        return Topology(
            kind: kind, source: spec, isThisSystem: hwloc_topology_is_thissystem(t) != 0,
            packages: max(1, count(HWLOC_OBJ_PACKAGE)), nodes: nodes, coreList: coreList, kinds: kinds,
            processingUnits: pus,
            l1dBytes: cacheSize(HWLOC_OBJ_L1CACHE), l2Bytes: cacheSize(HWLOC_OBJ_L2CACHE),
            l3Bytes: cacheSize(HWLOC_OBJ_L3CACHE))
    }

    public var json: JSON {
        .object([
            ("kind", .string(kind)),
            ("source", source.map { .string($0) } ?? .null),
            ("is_this_system", .bool(isThisSystem)),
            ("binding_note", bindingNote.map { .string($0) } ?? .null),
            ("packages", .int(packages)),
            ("numa_nodes", .int(numaNodes)),
            ("cores", .int(cores)),
            ("pus", .int(processingUnits)),
            ("l1d_bytes", .int(Int(l1dBytes))),
            ("l2_bytes", .int(Int(l2Bytes))),
            ("l3_bytes", .int(Int(l3Bytes))),
            ("nodes", .array(nodes.map { n in
                .object([("os_index", .int(n.osIndex)), ("memory_bytes", .int(Int(n.memoryBytes))),
                         ("cores", .int(coreList.filter { $0.node == n.osIndex }.count))])
            })),
            ("core_kinds", .array(kinds.enumerated().map { (i, k) in
                .object([("rank", .int(i)), ("efficiency", .int(k.efficiency)),
                         ("core_type", k.coreType.map { .string($0) } ?? .null), ("pus", .int(k.pus.count))])
            })),
            ("core_list", .array(coreList.map { c in
                .object([("core", .int(c.index)), ("package", .int(c.package)), ("node", .int(c.node)),
                         ("kind_rank", .int(c.kindRank)), ("pus", .array(c.pus.map { .int($0) }))])
            })),
        ])
    }

    /// A readable tree: packages > NUMA nodes > cores (with their PUs and kind).
    public var tree: String {
        func size(_ b: UInt64) -> String {
            b >= 1 << 30 && b % (1 << 30) == 0 ? "\(b >> 30) GiB" : b >= 1 << 20 ? "\(b >> 20) MiB" : "\(b >> 10) KiB"
        }
        var s = "Machine (\(kind)\(source.map { ": \($0)" } ?? "")): \(packages) package(s), \(numaNodes) NUMA node(s), "
        s += "\(cores) cores, \(processingUnits) PUs\n"
        s += "  caches: L1d \(size(l1dBytes)), L2 \(size(l2Bytes)), L3 \(size(l3Bytes))\n"
        if kinds.count > 1 {
            for (i, k) in kinds.enumerated() {
                s += "  core kind \(i)\(i == 0 ? " (performance)" : ""): \(k.coreType ?? "?"), efficiency \(k.efficiency), \(k.pus.count) PUs\n"
            }
        }
        for p in 0..<packages {
            s += "  Package \(p)\n"
            let inPackage = coreList.filter { $0.package == p }
            for n in nodes where inPackage.contains(where: { $0.node == n.osIndex }) || (nodes.count == 1 && p == 0) {
                s += "    NUMANode P#\(n.osIndex) (\(size(n.memoryBytes)))\n"
                for c in inPackage where c.node == n.osIndex {
                    let kindNote = kinds.count > 1 ? " kind \(c.kindRank)" : ""
                    s += "      Core \(c.index)\(kindNote): PU " + c.pus.map { "P#\($0)" }.joined(separator: " ") + "\n"
                }
            }
        }
        if let note = bindingNote { s += "note: \(note)\n" }
        return s
    }
}

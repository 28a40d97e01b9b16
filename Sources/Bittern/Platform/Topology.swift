import CHwloc
#if canImport(Glibc)
import Glibc
#endif

/// What hwloc says about a machine: this one, or one described by a synthetic string or an XML file
/// (for tests and capacity planning). The NUMA issue extends this to the worker-to-core plan.
public struct Topology: Sendable {
    /// "this machine", "synthetic", or "xml"
    public let kind: String
    /// The synthetic string or XML path it was loaded from (nil for this machine).
    public let source: String?
    /// True only when the topology describes the machine we run on (binding is meaningful).
    public let isThisSystem: Bool
    public let packages: Int
    public let numaNodes: Int
    public let cores: Int
    public let processingUnits: Int
    /// Cache sizes in bytes of the first cache of each level (0 when the level is absent).
    public let l1dBytes: UInt64
    public let l2Bytes: UInt64
    public let l3Bytes: UInt64

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
                guard hwloc_topology_set_synthetic(t, spec) == 0 else {
                    throw BitternError.invalidArgument(
                        "topology: '\(spec)' is neither an existing XML file nor a valid hwloc synthetic description")
                }
            }
        }
        guard hwloc_topology_load(t) == 0 else {
            throw BitternError.invalidArgument("topology: hwloc could not load '\(spec ?? "this machine")'")
        }
        func count(_ type: hwloc_obj_type_t) -> Int { Int(max(0, hwloc_get_nbobjs_by_type(t, type))) }
        func cacheSize(_ type: hwloc_obj_type_t) -> UInt64 {
            guard let obj = hwloc_get_obj_by_type(t, type, 0), let attr = obj.pointee.attr else { return 0 }
            return attr.pointee.cache.size
        }
        let pus = max(1, count(HWLOC_OBJ_PU))
        return Topology(
            kind: kind, source: spec, isThisSystem: hwloc_topology_is_thissystem(t) != 0,
            packages: max(1, count(HWLOC_OBJ_PACKAGE)), numaNodes: max(1, count(HWLOC_OBJ_NUMANODE)),
            cores: max(1, count(HWLOC_OBJ_CORE) > 0 ? count(HWLOC_OBJ_CORE) : pus), processingUnits: pus,
            l1dBytes: cacheSize(HWLOC_OBJ_L1CACHE), l2Bytes: cacheSize(HWLOC_OBJ_L2CACHE),
            l3Bytes: cacheSize(HWLOC_OBJ_L3CACHE))
    }

    public var json: JSON {
        .object([
            ("kind", .string(kind)),
            ("source", source.map { .string($0) } ?? .null),
            ("is_this_system", .bool(isThisSystem)),
            ("packages", .int(packages)),
            ("numa_nodes", .int(numaNodes)),
            ("cores", .int(cores)),
            ("pus", .int(processingUnits)),
            ("l1d_bytes", .int(Int(l1dBytes))),
            ("l2_bytes", .int(Int(l2Bytes))),
            ("l3_bytes", .int(Int(l3Bytes))),
        ])
    }
}

import CNuma
#if canImport(Glibc)
import Glibc
#endif

/// What a runtime is asked for (bittern_runtime_params in Swift form).
public struct RuntimeParams: Sendable {
    public var threads: Int = 0            // <= 0: one per physical core
    public var backend: String? = nil      // nil: BITTERN_BACKEND, else automatic
    public var numaPolicy: String? = nil   // nil: automatic
    public var topology: String? = nil     // nil: BITTERN_TOPOLOGY, else this machine
    /// Also run workers on SMT siblings (after every core's first PU). Default: one worker per core.
    public var useSMT: Bool = false
    /// Zero fraction from which matrices use the sparse backend. nil: BITTERN_SPARSE_CROSSOVER, else the
    /// measured table for this CPU (streaming regime); a value > 1 disables sparse.
    public var sparseCrossover: Double? = nil
    public init() {}
}

/// The machine-dependent decisions shared by matrices and models: CPU features, the backend for new
/// matrices, the topology, the worker pool. Immutable after creation; safe to share between threads.
public final class Runtime: @unchecked Sendable {
    public static let numaPolicies = ["partition", "replicate", "interleave", "none"]
    /// More workers than this is certainly a mistake (and would exhaust memory with thread stacks).
    public static let maxThreads = 4096

    public let features: CPUFeatures
    public let backend: Backend
    public let backendSource: Dispatcher.Source
    public let topology: Topology
    /// Topology of the machine we run on (equals `topology` unless a description was given).
    public let hostTopology: Topology
    /// "partition", "replicate", "interleave" or "none" (without the node list).
    public let numaPolicy: String
    /// Nodes named by the policy ("partition:0,1"), nil when it names none (all nodes).
    public let policyNodes: [Int]?
    public let threads: Int
    /// Which core each worker runs on, grouped by NUMA node.
    public let plan: WorkerPlan
    /// Whether worker threads 1... were bound to their PU (never worker 0: the caller's thread).
    public let pinning: Bool
    /// Why threads are not pinned (nil when they are).
    public let pinningNote: String?
    /// Memory is really bound to nodes (the topology is this machine and libnuma works).
    public let bindsMemory: Bool
    /// The backend for matrices whose zero fraction reaches `sparseCrossover` (nil: none, e.g. when a
    /// backend is forced: forcing applies to every matrix).
    public let sparseBackend: Backend?
    public let sparseCrossover: Double
    let pool: ThreadPool

    public init(_ params: RuntimeParams = RuntimeParams(), features: CPUFeatures = .host) throws {
        self.features = features
        let (policyName, policyNodes) = try Runtime.parsePolicy(params.numaPolicy)
        self.policyNodes = policyNodes
        guard params.threads <= Runtime.maxThreads else {
            throw BitternError.invalidArgument("n_threads \(params.threads) exceeds the limit of \(Runtime.maxThreads)")
        }
        let requested: String?
        (requested, backendSource) = Runtime.backendRequest(params: params.backend, environment: environment("BITTERN_BACKEND"))
        backend = try Dispatcher.choose(requested: requested, source: backendSource, features: features)
        sparseBackend = backendSource == .automatic && !backend.isSparse
            ? Dispatcher.sparseChoice(regime: .streaming, dense: backend.name, features: features) : nil
        if let c = params.sparseCrossover {
            sparseCrossover = c
        } else if let env = environment("BITTERN_SPARSE_CROSSOVER") {
            guard let c = env == "off" ? 2.0 : Double(env) else {
                throw BitternError.invalidArgument("BITTERN_SPARSE_CROSSOVER must be a zero fraction (e.g. 0.8) or 'off', got '\(env)'")
            }
            sparseCrossover = c
        } else {
            sparseCrossover = SparseCrossover.value(dense: backend.name, regime: .streaming)
        }
        guard sparseCrossover.isFinite, sparseCrossover >= 0 else {
            throw BitternError.invalidArgument("sparse crossover must be >= 0 (got \(sparseCrossover))")
        }
        hostTopology = try Topology.load(nil)
        if let spec = params.topology ?? environment("BITTERN_TOPOLOGY") {
            topology = try Topology.load(spec)
        } else {
            topology = hostTopology
        }
        numaPolicy = policyName ?? (topology.numaNodes > 1 ? "partition" : "none")
        // Nodes named by the policy must exist: in the topology, and for libnuma when it is this machine
        // (libnuma silently falls back to another node for one that does not exist).
        let known = topology.nodes.map(\.osIndex)
        for n in policyNodes ?? [] where !known.contains(n) {
            throw BitternError.invalidArgument(
                "numa_policy names node \(n), which this topology does not have (nodes: \(known.map(String.init).joined(separator: ", ")))")
        }
        bindsMemory = topology.isThisSystem && numa_available() >= 0
        // Automatic: one worker per physical core (per PU with useSMT) of the machine we really run on.
        // A described topology is for planning and reporting; it does not decide how many threads this
        // process starts (it does decide where they are planned, and so how rows are split over nodes).
        let automatic = params.useSMT ? hostTopology.processingUnits : hostTopology.cores
        threads = params.threads > 0 ? params.threads : automatic
        plan = WorkerPlan(topology: topology, threads: threads, smt: params.useSMT, nodes: policyNodes)
        if bindsMemory && (numaPolicy == "partition" || numaPolicy == "replicate") {
            for g in plan.groups where !NodeMemory.nodeExists(g.node) {
                throw BitternError.invalidArgument("NUMA node \(g.node) is not usable for memory here (libnuma)")
            }
        }
        // Pin only on this machine and when every worker has a core (or PU) of its own. Worker 0 is the
        // caller's thread: it is never bound, because it belongs to the application (binding it would
        // change where the application's own code runs after the call returns).
        if !topology.isThisSystem {
            pinning = false
            pinningNote = topology.bindingNote
        } else if plan.oversubscribed {
            pinning = false
            pinningNote = "more threads (\(threads)) than \(params.useSMT ? "PUs" : "cores") here: threads are not pinned"
        } else {
            pinning = true
            pinningNote = nil
        }
        pool = try ThreadPool(threads: threads, cpus: pinning ? plan.workers.map(\.pu) : nil)
    }

    /// "name" or "name:n,m,..." (OS node indices). nil: automatic.
    static func parsePolicy(_ spec: String?) throws -> (String?, [Int]?) {
        guard let spec else { return (nil, nil) }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        guard Runtime.numaPolicies.contains(name) else {
            throw BitternError.invalidArgument(
                "unknown numa_policy '\(spec)'; expected one of: \(Runtime.numaPolicies.joined(separator: ", ")), optionally followed by ':' and node ids (e.g. partition:0,1)")
        }
        guard parts.count == 2 else { return (name, nil) }
        var nodes: [Int] = []
        for item in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
            guard let n = Int(item), n >= 0, n < 1 << 16 else {
                throw BitternError.invalidArgument("numa_policy '\(spec)': '\(item)' is not a node id")
            }
            if !nodes.contains(n) { nodes.append(n) }
        }
        return (name, nodes)
    }

    // MARK: matrices made with this runtime (for the placement report)

    private let matricesLock = Lock()
    private var matrixRefs: [ObjectIdentifier: WeakMatrix] = [:]
    private struct WeakMatrix { weak var matrix: TernaryMatrix? }

    func register(_ m: TernaryMatrix) { matricesLock.withLock { matrixRefs[ObjectIdentifier(m)] = WeakMatrix(matrix: m) } }
    func unregister(_ m: TernaryMatrix) { matricesLock.withLock { matrixRefs[ObjectIdentifier(m)] = nil } }
    /// The live matrices made with this runtime.
    public var matrices: [TernaryMatrix] { matricesLock.withLock { matrixRefs.values.compactMap(\.matrix) } }

    /// The plan as JSON: workers per node with their cores and PUs, and whether they are pinned.
    public var planJSON: JSON {
        .object([
            ("workers", .int(plan.workers.count)),
            ("smt", .bool(plan.smt)),
            ("oversubscribed", .bool(plan.oversubscribed)),
            ("pinned", .bool(pinning)),
            ("pinned_workers", .int(pool.pinned.filter { $0 }.count)),
            ("caller_pinned", .bool(false)),
            ("pinning_note", pinningNote.map { .string($0) } ?? .null),
            ("memory_bound", .bool(bindsMemory)),
            ("nodes", .array(plan.groups.map { g in
                .object([
                    ("node", .int(g.node)),
                    ("workers", .int(g.workers.count)),
                    ("first_worker", .int(g.workers.lowerBound)),
                    ("cores", .array(g.workers.map { .int(plan.workers[$0].core) })),
                    ("pus", .array(g.workers.map { .int(plan.workers[$0].pu) })),
                    ("pinned", .array(g.workers.map { .bool(pool.pinned[$0]) })),
                ])
            })),
        ])
    }

    /// The backend for a new matrix with this fraction of zero weights.
    public func backend(forZeroFraction zeros: Double) -> Backend {
        if let sparse = sparseBackend, zeros >= sparseCrossover { return sparse }
        return backend
    }

    /// Which backend name was asked for, and by whom: the params field wins over the variable.
    static func backendRequest(params: String?, environment: String?) -> (String?, Dispatcher.Source) {
        if let params { return (params, .params) }
        if let environment { return (environment, .environment) }
        return (nil, .automatic)
    }

    /// Runs body(begin, end) over disjoint ranges of [0, count) on the runtime's workers.
    public func parallelFor(_ count: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        pool.parallelFor(count, grain: grain, body)
    }

    // MARK: the process-wide default runtime (used when the C API is given a NULL runtime)

    private static let defaultLock = Lock()
    nonisolated(unsafe) private static var defaultRuntime: Runtime?

    public static func shared() throws -> Runtime {
        try defaultLock.withLock {
            if let rt = defaultRuntime { return rt }
            let rt = try Runtime()
            defaultRuntime = rt
            return rt
        }
    }

    /// Bytes of all live matrices' packed weights per node, measured with move_pages.
    public var weightBytesPerNode: [Int] {
        var total: [Int] = []
        for m in matrices {
            for (n, b) in m.measuredBytesPerNode.enumerated() {
                if total.count <= n { total += [Int](repeating: 0, count: n + 1 - total.count) }
                total[n] += b
            }
        }
        return total
    }

    public var json: JSON {
        let registry = BackendRegistry.shared
        let backends: [JSON] = registry.backends.map { b in
            .object([
                ("name", .string(b.name)),
                ("supported", .bool(b.isSupported(on: features))),
                ("reason", .string(b.unsupportedReason(on: features) ?? "ok")),
                ("priority", .int(Int(b.priority))),
                ("origin", .string(b.origin)),
                ("description", .string(b.summary)),
            ])
        }
        return .object([
            ("version", .string(Version.string)),
            ("cpu", .string(CPUFeatures.brand)),
            ("cpu_features", .array(features.names.map { .string($0) })),
            ("backends", .array(backends)),
            ("backend", .string(backend.name)),
            ("backend_source", .string(backendSource.rawValue)),
            ("sparse_backend", sparseBackend.map { .string($0.name) } ?? .null),
            ("sparse_crossover", sparseBackend == nil ? .null : .double(sparseCrossover)),
            ("threads", .int(threads)),
            ("numa_nodes", .int(topology.numaNodes)),
            ("numa_policy", .string(numaPolicy)),
            ("numa_policy_nodes", policyNodes.map { .array($0.map { .int($0) }) } ?? .null),
            ("plan", planJSON),
            ("weights_bytes_per_node", .array(weightBytesPerNode.map { .int($0) })),
            ("matrices", .array(matrices.map { $0.placementJSON })),
            ("topology", topology.json),
            ("plugin_errors", .array(registry.pluginErrors.map { .string($0) })),
        ])
    }
}

public enum Version {
    public static let major = 0, minor = 1, patch = 0
    /// Kernel-independent C ABI version (BITTERN_ABI_VERSION in bittern.h).
    public static let abi: UInt32 = 1
    public static let string = "\(major).\(minor).\(patch)"
    /// NUL-terminated static storage for bittern_version().
    static let cString: StaticString = "0.1.0"
}

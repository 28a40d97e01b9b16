#if canImport(Glibc)
import Glibc
#endif

/// What a runtime is asked for (bittern_runtime_params in Swift form).
public struct RuntimeParams: Sendable {
    public var threads: Int = 0            // <= 0: one per physical core
    public var backend: String? = nil      // nil: BITTERN_BACKEND, else automatic
    public var numaPolicy: String? = nil   // nil: automatic
    public var topology: String? = nil     // nil: BITTERN_TOPOLOGY, else this machine
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
    public let numaPolicy: String
    public let threads: Int
    /// The backend for matrices whose zero fraction reaches `sparseCrossover` (nil: none, e.g. when a
    /// backend is forced: forcing applies to every matrix).
    public let sparseBackend: Backend?
    public let sparseCrossover: Double
    let pool: ThreadPool

    public init(_ params: RuntimeParams = RuntimeParams(), features: CPUFeatures = .host) throws {
        self.features = features
        if let p = params.numaPolicy, !Runtime.numaPolicies.contains(p) {
            throw BitternError.invalidArgument(
                "unknown numa_policy '\(p)'; expected one of: \(Runtime.numaPolicies.joined(separator: ", "))")
        }
        guard params.threads <= Runtime.maxThreads else {
            throw BitternError.invalidArgument("n_threads \(params.threads) exceeds the limit of \(Runtime.maxThreads)")
        }
        let requested: String?
        (requested, backendSource) = Runtime.backendRequest(params: params.backend, environment: environment("BITTERN_BACKEND"))
        backend = try Dispatcher.choose(requested: requested, source: backendSource, features: features)
        sparseBackend = backendSource == .automatic && !backend.isSparse ? Dispatcher.sparseChoice(features: features) : nil
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
        numaPolicy = params.numaPolicy ?? (topology.numaNodes > 1 ? "partition" : "none")
        // Automatic: one worker per physical core of the machine we really run on. A described topology
        // is for planning and reporting; it does not decide how many threads this process starts.
        threads = params.threads > 0 ? params.threads : hostTopology.cores
        pool = try ThreadPool(threads: threads)
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

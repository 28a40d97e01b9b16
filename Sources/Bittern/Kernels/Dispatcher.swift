/// Chooses the backend for new matrices: a requested name (params, then BITTERN_BACKEND) must exist and
/// be runnable here; otherwise the highest-priority runnable backend wins.
public enum Dispatcher {
    public enum Source: String, Sendable {
        case automatic = "auto"
        case params
        case environment
    }

    public static func choose(requested: String?, source: Source,
                              backends: [Backend] = BackendRegistry.shared.backends,
                              features: CPUFeatures = .host) throws -> Backend {
        if let requested {
            guard let b = backends.first(where: { $0.name == requested }) else {
                let known = backends.map(\.name).joined(separator: ", ")
                let from = source == .environment ? " (from BITTERN_BACKEND)" : ""
                throw BitternError.invalidArgument("unknown backend '\(requested)'\(from); known backends: \(known)")
            }
            if let why = b.unsupportedReason(on: features) {
                throw BitternError.unsupported("backend '\(requested)' cannot run here: \(why)")
            }
            return b
        }
        // Ties keep registry order, so a built-in beats a plugin of equal priority. Sparse formats only
        // pay off on sparse matrices: they are chosen per matrix (sparseChoice), never as the default.
        var best: Backend?
        for b in backends where b.isSupported(on: features) && !b.isSparse {
            if best == nil || b.priority > best!.priority { best = b }
        }
        guard let best else { throw BitternError.internal("no backend can run on this CPU (not even scalar)") }
        return best
    }

    /// The sparse backend for matrices at or above the crossover, in a regime, next to a dense backend: the
    /// one the measured table names when it runs here, else the highest-priority sparse backend that does.
    public static func sparseChoice(regime: SparseCrossover.Regime, dense: String,
                                    backends: [Backend] = BackendRegistry.shared.backends,
                                    features: CPUFeatures = .host) -> Backend? {
        let runnable = backends.filter { $0.isSparse && $0.isSupported(on: features) }
        let named = SparseCrossover.entry(dense: dense, regime: regime).sparse
        return runnable.first { $0.name == named } ?? runnable.max { $0.priority < $1.priority }
    }
}

/// Zero fractions above which a sparse backend beats the best dense one, and which sparse backend wins
/// there, measured with `bittern bench sparse` (the crossovers and the fastest sparse backend it prints)
/// on each class of CPU. Decode streams the weights from DRAM (bandwidth-bound); a model small enough to
/// stay in the last-level cache is compute-bound, where sparse needs far more zeros to win.
public enum SparseCrossover {
    public enum Regime: String, Sendable { case streaming, cacheResident = "cache-resident" }

    public struct Entry: Sendable {
        public let sparse: String
        public let crossover: Double
    }

    /// dense backend family -> (streaming, cache-resident)
    static let table: [(dense: String, streaming: Entry, cacheResident: Entry)] = [
        // AMD EPYC (Zen 3, 2-vCPU KVM guest), 2 threads, `bittern bench sparse`, 2026-11-29: streaming,
        // sparse_avx2 crosses at 0.96 (x1.14 at 0.97; sparse_quads_avx2 x0.75 at 0.90, x0.64 at 0.97);
        // cache-resident, none crosses up to 0.97 (recorded as 0.98; sparse_avx2 x0.76 at 0.97).
        ("avx2", Entry(sparse: "sparse_avx2", crossover: 0.96), Entry(sparse: "sparse_avx2", crossover: 0.98)),
        // No measurement yet: until one exists, assume scalar loses to sparse early (it reads 8 bits
        // per weight) and the SIMD backends behave like AVX2.
        ("scalar", Entry(sparse: "sparse", crossover: 0.40), Entry(sparse: "sparse", crossover: 0.50)),
    ]

    /// The table's entry for a dense backend in a regime (falls back to the AVX2 figures).
    public static func entry(dense: String, regime: Regime) -> Entry {
        let row = table.first { dense.hasPrefix($0.dense) } ?? table[0]
        return regime == .streaming ? row.streaming : row.cacheResident
    }

    /// The crossover for a dense backend in a regime.
    public static func value(dense: String, regime: Regime) -> Double { entry(dense: dense, regime: regime).crossover }
}

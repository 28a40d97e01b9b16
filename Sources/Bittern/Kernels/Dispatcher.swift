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

    /// The sparse backend to use for matrices at or above a zero fraction, when any can run here.
    public static func sparseChoice(backends: [Backend] = BackendRegistry.shared.backends,
                                    features: CPUFeatures = .host) -> Backend? {
        backends.filter { $0.isSparse && $0.isSupported(on: features) }.max { $0.priority < $1.priority }
    }
}

/// Zero fractions above which the sparse backend beats the best dense one, measured with
/// `bittern bench sparse` (the crossover it prints) on each class of CPU. Decode streams the weights
/// from DRAM (bandwidth-bound); a model small enough to stay in the last-level cache is compute-bound,
/// where sparse needs far more zeros to win.
public enum SparseCrossover {
    public enum Regime: String, Sendable { case streaming, cacheResident = "cache-resident" }

    /// (dense backend family, streaming crossover, cache-resident crossover)
    static let table: [(dense: String, streaming: Double, cacheResident: Double)] = [
        // AMD EPYC (Zen 3, 2-core KVM guest), 2 threads, `bittern bench sparse` with sparse_avx2,
        // 2026-11-28: streaming 0.95; cache-resident "none up to 0.97" (recorded as 0.98).
        ("avx2", 0.95, 0.98),
        // No measurement yet: until one exists, assume scalar loses to sparse early (it reads 8 bits
        // per weight) and the SIMD backends behave like AVX2.
        ("scalar", 0.40, 0.50),
    ]

    /// The crossover for a dense backend in a regime (falls back to the AVX2 figures).
    public static func value(dense: String, regime: Regime) -> Double {
        let row = table.first { dense.hasPrefix($0.dense) } ?? table[0]
        return regime == .streaming ? row.streaming : row.cacheResident
    }
}

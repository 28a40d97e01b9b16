import Bittern
#if canImport(Glibc)
import Glibc
#endif

/// `bittern bench sparse`: the best dense backend against the sparse (zero-skipping) backend across
/// zero fractions, on BitNet 2B4T shapes, in the two regimes decode runs in:
///   cache-resident -- the attention projections of one layer (16 M weights), repeated: compute-bound;
///   streaming      -- several layers, a working set several times the last-level cache, each matrix
///                     read once per pass as in decode: bandwidth-bound.
/// Prints bits per weight, speeds and ratios per zero fraction, then the crossovers (the table in
/// Dispatcher.swift comes from here), then the zero fraction each quantizer threshold yields.
struct SparseBench {
    static let fractions: [Double] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97]
    /// q, k, v, o of a 2B4T layer.
    static let cacheSet: [(Int, Int)] = [(2560, 2560), (640, 2560), (640, 2560), (2560, 2560)]

    var threads = 0
    var streamLayers = 8
    var quick = false

    func run() throws {
        var dp = RuntimeParams()
        dp.threads = threads
        dp.sparseCrossover = 2 // never sparse: the dense baseline
        let dense = try Runtime(dp)
        var sp = RuntimeParams()
        sp.threads = threads
        sp.backend = Dispatcher.sparseChoice()?.name ?? "sparse" // the best sparse backend this CPU runs
        let sparse = try Runtime(sp)
        let llc = Double(dense.topology.l3Bytes) / 1e6
        print("bittern \(Version.string) bench sparse -- dense \(dense.backend.name) vs sparse \(sparse.backend.name), \(dense.threads) threads, LLC \(fmt(llc, 0)) MB")
        print("cache-resident: q/k/v/o of one layer (16.4 M weights) repeated; streaming: \(streamLayers) layers of all 7 projections (\(fmt(Double(streamLayers) * 69.4, 0)) M weights) once per pass")
        print("")
        print(pad("zeros", 6) + pad("sparse b/w", 11) + " |" + pad("cache: dense", 13) + pad("sparse", 8) + pad("ratio", 7)
              + " |" + pad("stream: dense", 14) + pad("sparse", 8) + pad("ratio", 7) + "   (G weights/s)")
        var cacheRatios: [(Double, Double)] = []
        var streamRatios: [(Double, Double)] = []
        for z in SparseBench.fractions {
            var rng = Rng(seed: UInt64(z * 1000) + 1)
            let cache = try measure(z, shapes: SparseBench.cacheSet, copies: 1, dense: dense, sparse: sparse, rng: &rng, passes: quick ? 5 : 15)
            let stream = try measure(z, shapes: KernelBench.layer, copies: streamLayers, dense: dense, sparse: sparse, rng: &rng, passes: quick ? 3 : 5)
            cacheRatios.append((z, cache.sparse / cache.dense))
            streamRatios.append((z, stream.sparse / stream.dense))
            print(pad(fmt(z, 2), 6) + pad(fmt(stream.bitsPerWeight, 3), 11) + " |"
                  + pad(fmt(cache.dense), 13) + pad(fmt(cache.sparse), 8) + pad("x" + fmt(cache.sparse / cache.dense, 2), 7) + " |"
                  + pad(fmt(stream.dense), 14) + pad(fmt(stream.sparse), 8) + pad("x" + fmt(stream.sparse / stream.dense, 2), 7))
        }
        print("")
        print("crossover (sparse at least as fast as \(dense.backend.name)): cache-resident \(crossover(cacheRatios)), streaming \(crossover(streamRatios))")
        print("runtime's table for \(dense.backend.name): streaming \(fmt(SparseCrossover.value(dense: dense.backend.name, regime: .streaming), 2)), cache-resident \(fmt(SparseCrossover.value(dense: dense.backend.name, regime: .cacheResident), 2))")
        try thresholds()
    }

    struct Result { var dense: Double; var sparse: Double; var bitsPerWeight: Double }

    /// G weights/s of one GEMV per matrix per pass (median pass), dense vs sparse, same weights.
    func measure(_ zeros: Double, shapes: [(Int, Int)], copies: Int, dense: Runtime, sparse: Runtime,
                 rng: inout Rng, passes: Int) throws -> Result {
        var denseMats: [TernaryMatrix] = [], sparseMats: [TernaryMatrix] = []
        var weights = 0, sparseBytes = 0
        for (r, c) in shapes {
            var t = [Int8](repeating: 0, count: r * c)
            t.withUnsafeMutableBufferPointer { rng.fillTrits($0, zeroFraction: zeros) }
            for _ in 0..<copies {
                denseMats.append(try TernaryMatrix(runtime: dense, trits: t, rows: r, cols: c, alpha: 1))
                let s = try TernaryMatrix(runtime: sparse, trits: t, rows: r, cols: c, alpha: 1)
                sparseMats.append(s)
                weights += r * c
                sparseBytes += s.packedBytes
            }
        }
        var inputs: [Int: QuantizedActivations] = [:]
        for c in Set(shapes.map(\.1)) {
            var x = [Int8](repeating: 0, count: c)
            x.withUnsafeMutableBufferPointer { rng.fillInt8($0) }
            inputs[c] = QuantizedActivations(int8: x, n: 1, cols: c)
        }
        defer { inputs.values.forEach { $0.deallocate() } }
        let y = UnsafeMutablePointer<Int32>.allocate(capacity: 8192)
        defer { y.deallocate() }
        func pass(_ ms: [TernaryMatrix]) throws -> Double {
            let t0 = now()
            for m in ms { try m.multiply(inputs[m.cols]!, into: y) }
            return now() - t0
        }
        // Interleave the two so machine noise hits both alike.
        var td: [Double] = [], ts: [Double] = []
        _ = try pass(denseMats)
        _ = try pass(sparseMats)
        for _ in 0..<passes {
            td.append(try pass(denseMats))
            ts.append(try pass(sparseMats))
        }
        let w = Double(weights)
        return Result(dense: w / median(td) / 1e9, sparse: w / median(ts) / 1e9,
                      bitsPerWeight: Double(sparseBytes) * 8 / w)
    }

    /// The zero fraction where the ratio first reaches 1 (linear interpolation between measured points).
    func crossover(_ ratios: [(Double, Double)]) -> String {
        guard let i = ratios.firstIndex(where: { $0.1 >= 1 }) else { return "none up to \(fmt(ratios.last?.0 ?? 0, 2)) zeros" }
        if i == 0 { return "<= \(fmt(ratios[0].0, 2)) zeros" }
        let (z0, r0) = ratios[i - 1], (z1, r1) = ratios[i]
        return fmt(z0 + (1 - r0) / (r1 - r0) * (z1 - z0), 2) + " zeros"
    }

    /// What the quantizer's zero_threshold knob does to Gaussian weights.
    func thresholds() throws {
        var rng = Rng(seed: 99)
        let n = 1 << 20
        var w = [Float](repeating: 0, count: n)
        for i in stride(from: 0, to: n, by: 2) {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-12, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            let r = (-2 * log(u1)).squareRoot()
            w[i] = Float(r * cos(2 * Double.pi * u2))
            w[i + 1] = Float(r * sin(2 * Double.pi * u2))
        }
        print("")
        print("zero_threshold on Gaussian weights (1 M samples): zero fraction, bits/weight of the sparse format")
        var rt = RuntimeParams()
        rt.backend = Dispatcher.sparseChoice()?.name ?? "sparse"
        rt.threads = 1
        let sparse = try Runtime(rt)
        for t: Float in [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5] {
            let m = try w.withUnsafeBufferPointer {
                try TernaryMatrix(runtime: sparse, weights: $0.baseAddress!, rows: 1024, cols: 1024, zeroThreshold: t)
            }
            print("  threshold \(pad(fmt(Double(t), 2), 5)): zeros \(fmt(m.zeroFraction, 3)), \(fmt(m.bitsPerWeight, 3)) bits/weight")
        }
    }
}

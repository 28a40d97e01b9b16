import Bittern
#if canImport(Glibc)
import Glibc
#endif

/// `bittern bench sparse`: the best dense backend against every sparse (zero-skipping) backend across
/// zero fractions, on BitNet 2B4T shapes, in the two regimes decode runs in:
///   cache-resident -- the attention projections of one layer (16 M weights), repeated: compute-bound;
///   streaming      -- several layers, a working set several times the last-level cache, each matrix
///                     read once per pass as in decode: bandwidth-bound.
/// Prints bits per weight, speeds and ratios per zero fraction, then each sparse backend's crossovers and
/// the fastest one at the sparse end (the table in Dispatcher.swift comes from here), then the zero
/// fraction each quantizer threshold yields.
struct SparseBench {
    static let fractions: [Double] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97]
    /// q, k, v, o of a 2B4T layer.
    static let cacheSet: [(Int, Int)] = [(2560, 2560), (640, 2560), (640, 2560), (2560, 2560)]

    var threads = 0
    var streamLayers = 8
    var quick = false

    func run() throws {
        var params = RuntimeParams()
        params.threads = threads
        // One runtime (one thread pool) for every engine: the dense default and each sparse backend this CPU
        // runs, chosen per matrix. (Runtimes of their own would each keep a worker spinning after its pass,
        // taking a CPU from the next engine's pass.)
        let runtime = try Runtime(params)
        let sparse = BackendRegistry.shared.backends.filter { $0.isSparse && $0.isSupported(on: runtime.features) }
        let names = sparse.map(\.name)
        let llc = Double(runtime.topology.l3Bytes) / 1e6
        print("bittern \(Version.string) bench sparse -- dense \(runtime.backend.name) vs \(names.joined(separator: ", ")), \(runtime.threads) threads, LLC \(fmt(llc, 0)) MB")
        print("cache-resident: q/k/v/o of one layer (16.4 M weights) repeated; streaming: \(streamLayers) layers of all 7 projections (\(fmt(Double(streamLayers) * 69.4, 0)) M weights) once per pass")
        print("G weights/s (median pass; the engines alternate pass by pass) and each sparse backend's ratio to \(runtime.backend.name)")
        var cache: [(Double, Result)] = [], stream: [(Double, Result)] = []
        for z in SparseBench.fractions {
            var rng = Rng(seed: UInt64(z * 1000) + 1)
            cache.append((z, try measure(z, shapes: SparseBench.cacheSet, copies: 1, runtime: runtime, sparse: sparse, rng: &rng, passes: quick ? 5 : 15)))
            stream.append((z, try measure(z, shapes: KernelBench.layer, copies: streamLayers, runtime: runtime, sparse: sparse, rng: &rng, passes: quick ? 3 : 5)))
        }
        for (regime, rows) in [(SparseCrossover.Regime.cacheResident, cache), (.streaming, stream)] {
            print("")
            print("\(regime.rawValue):")
            print(pad("zeros", 6) + pad(runtime.backend.name, 9) + names.map { " |" + pad($0, 19) + pad("bits/w", 8) }.joined())
            for (z, r) in rows {
                print(pad(fmt(z, 2), 6) + pad(fmt(r.dense), 9) + r.sparse.indices.map { i in
                    " |" + pad(fmt(r.sparse[i]) + " x" + fmt(r.sparse[i] / r.dense, 2), 19) + pad(fmt(r.bitsPerWeight[i], 3), 8)
                }.joined())
            }
            for (i, name) in names.enumerated() {
                print("crossover of \(name) (at least as fast as \(runtime.backend.name)): \(crossover(rows.map { ($0.0, $0.1.sparse[i] / $0.1.dense) }))")
            }
            let best = rows.last.map { r in names[r.1.sparse.indices.max { r.1.sparse[$0] < r.1.sparse[$1] }!] } ?? "-"
            print("fastest sparse backend at \(fmt(rows.last?.0 ?? 0, 2)) zeros: \(best)")
        }
        print("")
        for regime in [SparseCrossover.Regime.streaming, .cacheResident] {
            let e = SparseCrossover.entry(dense: runtime.backend.name, regime: regime)
            print("runtime's table for \(runtime.backend.name), \(regime.rawValue): \(e.sparse) from \(fmt(e.crossover, 2)) zeros")
        }
        try thresholds(dense: runtime.backend.name)
    }

    struct Result { var dense: Double; var sparse: [Double]; var bitsPerWeight: [Double] }

    /// G weights/s of one GEMV per matrix per pass (median pass), dense vs each sparse backend, same weights.
    func measure(_ zeros: Double, shapes: [(Int, Int)], copies: Int, runtime: Runtime, sparse: [Backend],
                 rng: inout Rng, passes: Int) throws -> Result {
        let engines = [runtime.backend] + sparse
        var mats = [[TernaryMatrix]](repeating: [], count: engines.count)
        var bytes = [Int](repeating: 0, count: engines.count)
        var weights = 0
        for (r, c) in shapes {
            var t = [Int8](repeating: 0, count: r * c)
            t.withUnsafeMutableBufferPointer { rng.fillTrits($0, zeroFraction: zeros) }
            for _ in 0..<copies {
                for (e, backend) in engines.enumerated() {
                    let m = try TernaryMatrix(runtime: runtime, trits: t, rows: r, cols: c, alpha: 1, backend: backend)
                    mats[e].append(m)
                    bytes[e] += m.packedBytes
                }
                weights += r * c
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
        // Interleave the engines so machine noise hits all alike.
        var times = [[Double]](repeating: [], count: engines.count)
        for ms in mats { _ = try pass(ms) }
        for _ in 0..<passes {
            for (e, ms) in mats.enumerated() { times[e].append(try pass(ms)) }
        }
        let w = Double(weights)
        let speed = times.map { w / median($0) / 1e9 }
        return Result(dense: speed[0], sparse: Array(speed.dropFirst()),
                      bitsPerWeight: bytes.dropFirst().map { Double($0) * 8 / w })
    }

    /// The zero fraction where the ratio first reaches 1 (linear interpolation between measured points).
    func crossover(_ ratios: [(Double, Double)]) -> String {
        guard let i = ratios.firstIndex(where: { $0.1 >= 1 }) else { return "none up to \(fmt(ratios.last?.0 ?? 0, 2)) zeros" }
        if i == 0 { return "<= \(fmt(ratios[0].0, 2)) zeros" }
        let (z0, r0) = ratios[i - 1], (z1, r1) = ratios[i]
        return fmt(z0 + (1 - r0) / (r1 - r0) * (z1 - z0), 2) + " zeros"
    }

    /// What the quantizer's zero_threshold knob does to Gaussian weights.
    func thresholds(dense: String) throws {
        var rng = Rng(seed: 99)
        let n = 1 << 20
        var w = [Float](repeating: 0, count: n)
        for i in stride(from: 0, to: n, by: 2) {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-12, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            let r = (-2 * log(u1)).squareRoot()
            w[i] = Float(r * cos(2 * Double.pi * u2))
            w[i + 1] = Float(r * sin(2 * Double.pi * u2))
        }
        var rt = RuntimeParams()
        rt.backend = Dispatcher.sparseChoice(regime: .streaming, dense: dense)?.name ?? "sparse"
        print("")
        print("zero_threshold on Gaussian weights (1 M samples): zero fraction, bits/weight of \(rt.backend ?? "sparse")")
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

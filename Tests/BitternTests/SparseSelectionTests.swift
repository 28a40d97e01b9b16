import Testing
import BitternKernels
@testable import Bittern

/// The per-matrix choice between the dense default and the zero-skipping backend.
@Suite struct SparseSelectionTests {
    func trits(_ n: Int, zeroFraction: Double, seed: UInt64) -> [Int8] {
        var rng = TestRng(seed)
        return (0..<n).map { _ in
            let r = rng.next()
            return Double(r >> 11) / Double(UInt64(1) << 53) < zeroFraction ? 0 : (r & 1 == 0 ? 1 : -1)
        }
    }

    @Test func sparseMatricesGetTheSparseBackendDenseOnesDoNot() throws {
        let rt = try Runtime()
        let best = try #require(rt.sparseBackend, "automatic runtime has a sparse backend")
        #expect(rt.sparseCrossover > 0.31 && rt.sparseCrossover < 0.97, "crossover \(rt.sparseCrossover)")
        let (rows, cols) = (64, 2560)
        let sparse = try TernaryMatrix(runtime: rt, trits: trits(rows * cols, zeroFraction: 0.97, seed: 1), rows: rows, cols: cols, alpha: 1)
        let dense = try TernaryMatrix(runtime: rt, trits: trits(rows * cols, zeroFraction: 0.31, seed: 2), rows: rows, cols: cols, alpha: 1)
        #expect(sparse.backend.name == best.name, "the highest-priority sparse backend")
        #expect(dense.backend.name == rt.backend.name)
        #expect(!rt.backend.isSparse, "the dense default is never the sparse backend")
        // Below 1 bit per weight at 90% zeros (forced: the measured crossover may lie above 0.9).
        var p = RuntimeParams()
        p.sparseCrossover = 0
        let eager = try Runtime(p)
        let m90 = try TernaryMatrix(runtime: eager, trits: trits(rows * cols, zeroFraction: 0.9, seed: 1), rows: rows, cols: cols, alpha: 1)
        #expect(m90.backend.name == best.name)
        #expect(m90.bitsPerWeight < 1.0, "\(m90.bitsPerWeight) bits per weight")
    }

    @Test func forcingABackendAppliesToEveryMatrix() throws {
        var p = RuntimeParams()
        p.backend = "scalar"
        let rt = try Runtime(p)
        #expect(rt.sparseBackend == nil)
        let m = try TernaryMatrix(runtime: rt, trits: [Int8](repeating: 0, count: 256), rows: 2, cols: 128, alpha: 1)
        #expect(m.backend.name == "scalar")
        p.backend = "sparse"
        let forcedSparse = try Runtime(p)
        let d = try TernaryMatrix(runtime: forcedSparse, trits: [Int8](repeating: 1, count: 256), rows: 2, cols: 128, alpha: 1)
        #expect(d.backend.name == "sparse")
    }

    @Test func crossoverIsAdjustable() throws {
        var p = RuntimeParams()
        p.sparseCrossover = 0.2
        let eager = try Runtime(p)
        let m = try TernaryMatrix(runtime: eager, trits: trits(4096, zeroFraction: 0.31, seed: 3), rows: 4, cols: 1024, alpha: 1)
        #expect(m.backend.isSparse)
        p.sparseCrossover = 2
        let never = try Runtime(p)
        let z = try TernaryMatrix(runtime: never, trits: [Int8](repeating: 0, count: 64), rows: 1, cols: 64, alpha: 1)
        #expect(z.backend.name == never.backend.name)
        p.sparseCrossover = -1
        #expect(throws: BitternError.self) { _ = try Runtime(p) }
    }

    @Test func sparseResultsMatchDenseExactly() throws {
        let rt = try Runtime()
        let (rows, cols, n) = (37, 3001, 3)
        let t = trits(rows * cols, zeroFraction: 0.97, seed: 4)
        var rng = TestRng(9)
        let x = rng.int8s(n * cols)
        let m = try TernaryMatrix(runtime: rt, trits: t, rows: rows, cols: cols, alpha: 1)
        #expect(m.backend.name == rt.sparseBackend?.name)
        var y = [Int32](repeating: 0, count: n * rows)
        try m.multiplyInt8(x, n: n, into: &y)
        #expect(y == referenceProduct(t, rows: rows, cols: cols, x, n: n))
    }

    /// Every sparse backend this CPU runs, forced per matrix on one runtime: exact through GEMV and GEMM
    /// (odd shape, tail columns, a half block), and below 1 bit per weight at 90% zeros.
    @Test func everySparseBackendIsExactWhenForcedPerMatrix() throws {
        let rt = try Runtime()
        let sparse = BackendRegistry.shared.backends.filter { $0.isSparse && $0.isSupported(on: rt.features) }
        #expect(sparse.contains { $0.name == "sparse" })
        let (rows, cols) = (45, 3001)
        let t = trits(rows * cols, zeroFraction: 0.9, seed: 5)
        var rng = TestRng(11)
        for b in sparse {
            let m = try TernaryMatrix(runtime: rt, trits: t, rows: rows, cols: cols, alpha: 1, backend: b)
            #expect(m.backend.name == b.name)
            #expect(m.bitsPerWeight < 1.0, "\(b.name): \(m.bitsPerWeight) bits per weight")
            for n in [1, 6] {
                let x = rng.int8s(n * cols)
                var y = [Int32](repeating: 0, count: n * rows)
                try m.multiplyInt8(x, n: n, into: &y)
                #expect(y == referenceProduct(t, rows: rows, cols: cols, x, n: n), "\(b.name), \(n) tokens")
            }
        }
        // A backend this CPU cannot run is refused, not packed.
        if let foreign = BackendRegistry.shared.backends.first(where: { !$0.isSupported(on: rt.features) }) {
            #expect(throws: BitternError.self) {
                _ = try TernaryMatrix(runtime: rt, trits: t, rows: rows, cols: cols, alpha: 1, backend: foreign)
            }
        }
    }

    /// The table names the sparse backend per regime; without it runnable, the best runnable one.
    @Test func sparseChoiceFollowsTheTable() {
        for regime in [SparseCrossover.Regime.streaming, .cacheResident] {
            let named = SparseCrossover.entry(dense: "avx2", regime: regime).sparse
            if BackendRegistry.shared.backends.contains(where: { $0.name == named }) { // x86-64 builds
                let avx2 = CPUFeatures(bits: CPUFeatures.host.bits | UInt64(BITTERN_CPU_AVX2))
                #expect(Dispatcher.sparseChoice(regime: regime, dense: "avx2", features: avx2)?.name == named)
            }
            #expect(Dispatcher.sparseChoice(regime: regime, dense: "avx2", features: CPUFeatures(bits: 0))?.name == "sparse")
        }
    }

    @Test func tableHasTheRegimes() {
        let s = SparseCrossover.value(dense: "avx2", regime: .streaming)
        let c = SparseCrossover.value(dense: "avx2", regime: .cacheResident)
        #expect(s <= c, "streaming is bandwidth-bound, so sparse wins there first")
        #expect(SparseCrossover.value(dense: "some_plugin", regime: .streaming) == s)
    }
}

import Testing
@testable import Bittern

@Suite struct TernaryMatrixTests {
    /// Float products follow the documented formula exactly: y = (float)acc * (alpha / s).
    @Test(arguments: runnableBackends)
    func floatProductsFollowTheFormula(backend: String) throws {
        let rt = try runtime(backend, threads: 2)
        var rng = TestRng(11)
        let (rows, cols, n) = (257, 1000, 5)
        let w = rng.floats(rows * cols, scale: 0.05)
        let m = try TernaryMatrix(runtime: rt, weights: w, rows: rows, cols: cols)
        let q = try w.withUnsafeBufferPointer { try Quantizer.absmean($0.baseAddress!, count: w.count) }
        #expect(m.alpha == q.alpha)
        let x = rng.floats(n * cols, scale: 3)
        var y = [Float](repeating: 0, count: n * rows)
        try m.multiplyFloat(x, n: n, into: &y)
        for k in 0..<n {
            let row = Array(x[(k * cols)..<((k + 1) * cols)])
            let amax = row.map { abs($0) }.max()!
            let s = 127 / max(amax, 1e-5)
            let xq = row.map { Int8(max(-128, min(127, ($0 * s).rounded(.toNearestOrEven)))) }
            let acc = referenceProduct(q.trits, rows: rows, cols: cols, xq, n: 1)
            for r in 0..<rows {
                let want = Float(acc[r]) * (q.alpha / s)
                #expect(y[k * rows + r] == want, "token \(k) row \(r)")
            }
        }
    }

    /// Splitting rows over workers never changes a result; GEMM equals n GEMVs.
    @Test(arguments: runnableBackends)
    func threadsAndBatchingGiveIdenticalIntegers(backend: String) throws {
        var rng = TestRng(5)
        let (rows, cols, n) = (1031, 777, 7)
        let t = rng.trits(rows * cols)
        let x = rng.int8s(n * cols)
        let want = referenceProduct(t, rows: rows, cols: cols, x, n: n)
        for threads in [1, 2, 3, 8] {
            let m = try TernaryMatrix(runtime: try runtime(backend, threads: threads), trits: t, rows: rows, cols: cols, alpha: 1)
            var y = [Int32](repeating: 0, count: n * rows)
            try m.multiplyInt8(x, n: n, into: &y)
            #expect(y == want, "\(threads) threads, gemm")
            var y1 = [Int32](repeating: 0, count: rows)
            try m.multiplyInt8(Array(x[cols..<(2 * cols)]), n: 1, into: &y1)
            #expect(y1 == Array(want[rows..<(2 * rows)]), "\(threads) threads, gemv")
        }
    }

    @Test func describesItself() throws {
        let rt = try runtime("scalar")
        let m = try TernaryMatrix(runtime: rt, trits: [1, 0, -1, 0, 0, 1], rows: 2, cols: 3, alpha: 0.5)
        #expect(m.zeroCount == 3)
        let json = m.json.serialized()
        for key in ["\"rows\":2", "\"cols\":3", "\"zero_fraction\":0.5", "\"backend\":\"scalar\"", "\"bytes\":",
                    "\"bits_per_weight\":", "\"bytes_per_node\":["] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
    }

    @Test func badShapesTritsAndScalesAreErrors() throws {
        let rt = try runtime("scalar")
        #expect(throws: BitternError.invalidArgument("matrix shape 0 x 3: both dimensions must be >= 1")) {
            _ = try TernaryMatrix(runtime: rt, trits: [1], rows: 0, cols: 3, alpha: 1)
        }
        #expect(throws: BitternError.self) { try TernaryMatrix.checkShape(rows: Int.max / 2, cols: 3) }
        #expect(throws: BitternError.self) { _ = try TernaryMatrix(runtime: rt, trits: [1, 2], rows: 1, cols: 2, alpha: 1) }
        for alpha in [Float(0), -1, .nan, .infinity] {
            #expect(throws: BitternError.self) { _ = try TernaryMatrix(runtime: rt, trits: [1, 0], rows: 1, cols: 2, alpha: alpha) }
        }
        let m = try TernaryMatrix(runtime: rt, trits: [1, 0], rows: 1, cols: 2, alpha: 1)
        var y: [Int32] = [0]
        #expect(throws: BitternError.self) { try m.multiplyInt8([1, 1], n: 0, into: &y) }
        var yf: [Float] = [0]
        #expect(throws: BitternError.self) { try m.multiplyFloat([1, .nan], n: 1, into: &yf) }
        let wrong = QuantizedActivations(int8: [1, 2, 3], n: 1, cols: 3)
        defer { wrong.deallocate() }
        #expect(throws: BitternError.self) { try m.multiply(wrong, into: &y) }
    }
}

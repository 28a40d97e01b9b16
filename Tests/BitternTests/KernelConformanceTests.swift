import Testing
@testable import Bittern
import BitternKernels

/// Every backend this machine can run must give bit-identical int32 results to the scalar reference,
/// for GEMV and GEMM, whole and partial row ranges, tails, and inputs at the int16-overflow edge.
@Suite struct KernelConformanceTests {
    static let shapes: [(Int, Int)] = [(1, 1), (1, 64), (2, 3), (3, 65), (4, 127), (5, 128), (7, 129), (8, 255),
                                       (9, 256), (16, 257), (17, 383), (31, 640), (33, 1000), (64, 2560), (13, 3200),
                                       (6, 8640)]

    func packed(_ backend: Backend, _ t: [Int8], rows: Int, cols: Int) throws -> UnsafeMutableRawPointer {
        let d = backend.descriptor.pointee
        let size = d.packed_size(t, rows, cols)
        try #require(size > 0)
        let p = UnsafeMutableRawPointer.allocate(byteCount: (size + 63) / 64 * 64, alignment: 64)
        #expect(d.pack(t, rows, cols, p, size) == 0)
        return p
    }

    func check(_ name: String, rows: Int, cols: Int, n: Int, trits t: [Int8], x: [Int8]) throws {
        let backend = try #require(BackendRegistry.shared.backend(named: name))
        let d = backend.descriptor.pointee
        let p = try packed(backend, t, rows: rows, cols: cols)
        defer { p.deallocate() }
        let want = referenceProduct(t, rows: rows, cols: cols, x, n: n)
        let a = QuantizedActivations(int8: x, n: n, cols: cols)
        defer { a.deallocate() }
        var scratch: UnsafeMutableRawPointer?
        if let s = d.scratch_size {
            scratch = .allocate(byteCount: max(64, s(cols, n)), alignment: 64)
            d.prepare?(a.row(0), a.stride, n, cols, scratch)
        }
        defer { scratch?.deallocate() }
        // Whole range, then a sub-range that starts and ends off any alignment.
        for (b, e) in [(0, rows), (rows / 3, rows - rows / 4)] where b < e {
            var got = [Int32](repeating: 0x5a5a5a5a, count: n * (e - b))
            for k in 0..<n {
                got.withUnsafeMutableBufferPointer {
                    d.gemv(p, rows, cols, b, e, a.row(k), a.sums[k], $0.baseAddress! + k * (e - b), scratch)
                }
            }
            var expect: [Int32] = []
            for k in 0..<n { expect += want[(k * rows + b)..<(k * rows + e)] }
            #expect(got == expect, "\(name) gemv \(rows)x\(cols) rows \(b)..<\(e)")
            got = [Int32](repeating: 0x5a5a5a5a, count: n * (e - b))
            a.sums.withUnsafeBufferPointer { sums in
                got.withUnsafeMutableBufferPointer {
                    d.gemm(p, rows, cols, b, e, a.row(0), a.stride, sums.baseAddress, n, $0.baseAddress, e - b, scratch)
                }
            }
            #expect(got == expect, "\(name) gemm \(rows)x\(cols) n=\(n) rows \(b)..<\(e)")
        }
    }

    @Test(arguments: runnableBackends)
    func randomShapes(backend: String) throws {
        var rng = TestRng(42)
        for (i, (rows, cols)) in KernelConformanceTests.shapes.enumerated() {
            let n = [1, 2, 3, 4, 5, 8, 11][i % 7]
            try check(backend, rows: rows, cols: cols, n: n, trits: rng.trits(rows * cols, zeroEvery: UInt64(2 + i % 9)),
                      x: rng.int8s(n * cols))
        }
    }

    /// All activations -128 against all +1 weights at K = 16384: any int16 accumulation overflows.
    @Test(arguments: runnableBackends)
    func extremeValuesDoNotOverflow(backend: String) throws {
        for cols in [16384, 16384 + 64 + 17] {
            let rows = 5, n = 3
            try check(backend, rows: rows, cols: cols, n: n, trits: [Int8](repeating: 1, count: rows * cols),
                      x: [Int8](repeating: -128, count: n * cols))
            try check(backend, rows: rows, cols: cols, n: n, trits: [Int8](repeating: -1, count: rows * cols),
                      x: [Int8](repeating: 127, count: n * cols))
            let alternating = (0..<(rows * cols)).map { Int8($0 % 2 == 0 ? 1 : -1) }
            let x = (0..<(n * cols)).map { Int8($0 % 2 == 0 ? -128 : 127) }
            try check(backend, rows: rows, cols: cols, n: n, trits: alternating, x: x)
        }
    }

    @Test(arguments: runnableBackends)
    func packRejectsNonTrits(backend: String) throws {
        let b = try #require(BackendRegistry.shared.backend(named: backend))
        let d = b.descriptor.pointee
        let t: [Int8] = [1, 0, -1, 2]
        let size = d.packed_size(t, 1, 4)
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(64, size), alignment: 64)
        defer { p.deallocate() }
        #expect(d.pack(t, 1, 4, p, size) != 0)
    }
}

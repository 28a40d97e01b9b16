import BitternKernels
import BitternSupport

/// A ternary weight matrix W ~ alpha * t (rows x cols, trits in {-1,0,+1}) packed by one backend.
/// Immutable after creation: products may run from any number of threads at once.
public final class TernaryMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let alpha: Float
    public let zeroCount: Int
    public let backend: Backend
    public let runtime: Runtime
    let packed: UnsafeMutableRawPointer
    public let packedBytes: Int

    /// Checks a shape for the C API: both dimensions >= 1 and rows*cols representable.
    public static func checkShape(rows: Int, cols: Int) throws {
        guard rows > 0, cols > 0 else {
            throw BitternError.invalidArgument("matrix shape \(rows) x \(cols): both dimensions must be >= 1")
        }
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, count <= Int.max / 8 else {
            throw BitternError.invalidArgument("matrix shape \(rows) x \(cols) is too large")
        }
    }

    /// Packs trits (rows*cols, row-major) with the runtime's backend.
    public init(runtime: Runtime, trits: UnsafePointer<Int8>, rows: Int, cols: Int, alpha: Float) throws {
        try TernaryMatrix.checkShape(rows: rows, cols: cols)
        guard alpha.isFinite, alpha > 0 else {
            throw BitternError.invalidArgument("alpha must be finite and > 0 (got \(alpha))")
        }
        var zeros = 0
        let bad = btk_check_trits(trits, rows * cols, &zeros)
        if bad != 0 {
            let i = bad - 1
            throw BitternError.invalidArgument(
                "trit at row \(i / cols), column \(i % cols) is \(trits[i]): trits must be -1, 0 or 1")
        }
        let backend = runtime.backend(forZeroFraction: Double(zeros) / Double(rows * cols))
        let d = backend.descriptor.pointee
        let size = d.packed_size(trits, rows, cols)
        guard size > 0 else {
            throw BitternError.unsupported("backend '\(backend.name)' cannot represent a \(rows) x \(cols) matrix")
        }
        // Round up so kernels reading whole 64-byte lines never leave the allocation.
        let bytes = (size + 63) / 64 * 64
        guard let buffer = bts_aligned_alloc(64, bytes) else {
            throw BitternError.outOfMemory("cannot allocate \(bytes) bytes for a \(rows) x \(cols) ternary matrix")
        }
        guard d.pack(trits, rows, cols, buffer, size) == 0 else {
            bts_aligned_free(buffer)
            throw BitternError.internal("backend '\(backend.name)' failed to pack a valid \(rows) x \(cols) matrix")
        }
        self.rows = rows
        self.cols = cols
        self.alpha = alpha
        self.zeroCount = zeros
        self.backend = backend
        self.runtime = runtime
        self.packed = buffer
        self.packedBytes = size
    }

    /// Quantizes float weights with the absmean rule, then packs them.
    public convenience init(runtime: Runtime, weights: UnsafePointer<Float>, rows: Int, cols: Int,
                            zeroThreshold: Float = Quantizer.defaultZeroThreshold) throws {
        try TernaryMatrix.checkShape(rows: rows, cols: cols)
        let q = try Quantizer.absmean(weights, count: rows * cols, zeroThreshold: zeroThreshold)
        try self.init(runtime: runtime, trits: q.trits, rows: rows, cols: cols, alpha: q.alpha)
    }

    deinit { bts_aligned_free(packed) }

    public var zeroFraction: Double { Double(zeroCount) / Double(rows * cols) }
    public var bitsPerWeight: Double { Double(packedBytes) * 8 / Double(rows * cols) }

    // MARK: products

    /// Exact integer products for n quantized tokens: y is n x rows.
    public func multiply(_ a: QuantizedActivations, into y: UnsafeMutablePointer<Int32>) throws {
        guard a.cols == cols else {
            throw BitternError.invalidArgument("activations have \(a.cols) columns, the matrix has \(cols)")
        }
        let d = backend.descriptor.pointee
        var scratch: UnsafeMutableRawBufferPointer?
        if let sizeFn = d.scratch_size {
            let bytes = sizeFn(cols, a.n)
            if bytes > 0 {
                let s = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
                d.prepare?(a.row(0), a.stride, a.n, cols, s.baseAddress)
                scratch = s
            }
        }
        defer { scratch?.deallocate() }
        let scratchPtr = UnsafeRawPointer(scratch?.baseAddress)
        let (rows, cols, n, packed) = (self.rows, self.cols, a.n, UnsafeRawPointer(self.packed))
        // Split rows across workers only when each gets enough work to repay the hand-off.
        let work = rows * cols * n
        let parts = max(1, min(runtime.threads, work / (1 << 18)))
        runtime.pool.parallelFor(rows, grain: 16, parts: parts) { begin, end in
            if n == 1 {
                d.gemv(packed, rows, cols, begin, end, a.row(0), a.sums[0], y + begin, scratchPtr)
            } else {
                a.sums.withUnsafeBufferPointer { sums in
                    d.gemm(packed, rows, cols, begin, end, a.row(0), a.stride, sums.baseAddress, n,
                           y + begin, rows, scratchPtr)
                }
            }
        }
    }

    /// y[k][i] = sum_j t[i][j] * x[k][j], exactly. x: n x cols int8; y: n x rows int32.
    public func multiplyInt8(_ x: UnsafePointer<Int8>, n: Int, into y: UnsafeMutablePointer<Int32>) throws {
        try checkTokens(n)
        let a = QuantizedActivations(int8: x, n: n, cols: cols)
        defer { a.deallocate() }
        try multiply(a, into: y)
    }

    /// y = W x with per-token int8 activation quantization. x: n x cols floats; y: n x rows floats.
    public func multiplyFloat(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>) throws {
        try checkTokens(n)
        let a = try QuantizedActivations(floats: x, n: n, cols: cols)
        defer { a.deallocate() }
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: n * rows)
        defer { acc.deallocate() }
        try multiply(a, into: acc)
        for k in 0..<n {
            btk_scale_row_i32(acc + k * rows, rows, alpha / a.scales[k], y + k * rows)
        }
    }

    private func checkTokens(_ n: Int) throws {
        guard n > 0 else { throw BitternError.invalidArgument("token count n must be >= 1") }
        let (total, overflow) = n.multipliedReportingOverflow(by: max(rows, cols))
        guard !overflow, total <= Int.max / 8 else {
            throw BitternError.invalidArgument("token count \(n) is too large for a \(rows) x \(cols) matrix")
        }
    }

    public var json: JSON {
        let perNode = NodeMemory.bytesPerNode(UnsafeRawPointer(packed), length: packedBytes)
        return .object([
            ("rows", .int(rows)),
            ("cols", .int(cols)),
            ("alpha", .double(Double(alpha))),
            ("zero_fraction", .double(zeroFraction)),
            ("backend", .string(backend.name)),
            ("bytes", .int(packedBytes)),
            ("bits_per_weight", .double(bitsPerWeight)),
            ("bytes_per_node", .array(perNode.map { .int($0) })),
        ])
    }
}

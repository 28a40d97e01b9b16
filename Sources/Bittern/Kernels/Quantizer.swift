import BitternKernels

/// BitNet b1.58 absmean weight quantization, bit for bit as API.md fixes it:
/// alpha = max(Float(sum|w| in double, row-major / count), 1e-5); s = 1/alpha (float);
/// trit = sign(w) if |w| * s > threshold else 0.
public enum Quantizer {
    public struct Result {
        public var trits: [Int8]
        public var alpha: Float
        public var zeros: Int
    }

    public static let defaultZeroThreshold: Float = 0.5

    public static func absmean(_ w: UnsafePointer<Float>, count: Int, zeroThreshold: Float = defaultZeroThreshold) throws -> Result {
        guard count > 0 else { throw BitternError.invalidArgument("cannot quantize an empty matrix") }
        guard zeroThreshold >= 0, zeroThreshold.isFinite else {
            throw BitternError.invalidArgument("zero_threshold must be a finite value >= 0 (got \(zeroThreshold))")
        }
        let bad = btk_first_nonfinite(w, count)
        if bad != 0 {
            throw BitternError.invalidArgument("weight \(bad - 1) is \(w[bad - 1]): weights must be finite")
        }
        let mean = Float(btk_sum_abs_f64(w, count) / Double(count))
        let alpha = max(mean, 1e-5)
        let s: Float = 1.0 / alpha
        var trits = [Int8](repeating: 0, count: count)
        let zeros = trits.withUnsafeMutableBufferPointer { btk_ternarize(w, count, s, zeroThreshold, $0.baseAddress) }
        return Result(trits: trits, alpha: alpha, zeros: zeros)
    }
}

/// Per-token int8 activation quantization into rows padded for the kernels. Quantize an input once
/// and reuse it for every matrix that reads it. Owns its buffer: call deallocate() when done.
public struct QuantizedActivations {
    public let n: Int
    public let cols: Int
    /// Row stride in bytes: cols rounded up to BITTERN_KERNEL_Q_ALIGN (padding is zero).
    public let stride: Int
    let q: UnsafeMutableRawBufferPointer
    public private(set) var sums: [Int32]
    public private(set) var scales: [Float]

    static func stride(for cols: Int) -> Int {
        let a = Int(BITTERN_KERNEL_Q_ALIGN)
        return (cols + a - 1) / a * a
    }

    /// Quantizes n rows of cols floats (absmax per row), rows split over the runtime's workers when one
    /// is given. NaN/Inf input is an error.
    public init(floats x: UnsafePointer<Float>, n: Int, cols: Int, runtime: Runtime? = nil) throws {
        try self.init(rows: UnsafeMutablePointer(mutating: x), n: n, cols: cols, runtime: runtime) { _ in }
    }

    /// Quantizes n rows of cols floats at x that `produce(k)` first writes (a norm, an activation): each
    /// row is produced and quantized by the same worker, one after the other, while it is in its cache.
    /// NaN/Inf in a produced row is an error.
    public init(rows x: UnsafeMutablePointer<Float>, n: Int, cols: Int, runtime: Runtime?,
                produce: (Int) -> Void) throws {
        self.init(n: n, cols: cols)
        let (q, stride) = (q.baseAddress!.assumingMemoryBound(to: Int8.self), stride)
        // per row: 1 + the index of its first non-finite value, or 0
        var bad = [Int](repeating: 0, count: n)
        sums.withUnsafeMutableBufferPointer { sums in
            scales.withUnsafeMutableBufferPointer { scales in
                bad.withUnsafeMutableBufferPointer { bad in
                    let (sp, cp, bp) = (sums.baseAddress!, scales.baseAddress!, bad.baseAddress!)
                    func rows(_ b: Int, _ e: Int) {
                        for k in b..<e {
                            produce(k)
                            bp[k] = Int(btk_first_nonfinite(x + k * cols, cols))
                            if bp[k] == 0 { sp[k] = btk_quantize_row_i8(x + k * cols, cols, stride, q + k * stride, cp + k) }
                        }
                    }
                    if let runtime { runtime.parallelFor(n, rows) } else { rows(0, n) }
                }
            }
        }
        if let k = bad.firstIndex(where: { $0 != 0 }) {
            let i = k * cols + bad[k] - 1
            deallocate()
            throw BitternError.invalidArgument("input value \(i) (token \(k)) is \(x[i]): activations must be finite")
        }
    }

    /// Copies n rows of int8 values (already quantized) into padded rows.
    public init(int8 x: UnsafePointer<Int8>, n: Int, cols: Int) {
        self.init(n: n, cols: cols)
        for k in 0..<n {
            let dst = row(k)
            var sum: Int32 = 0
            for j in 0..<cols {
                dst[j] = x[k * cols + j]
                sum &+= Int32(dst[j])
            }
            sums[k] = sum
        }
    }

    private init(n: Int, cols: Int) {
        self.n = n
        self.cols = cols
        stride = QuantizedActivations.stride(for: cols)
        q = .allocate(byteCount: max(1, n * stride), alignment: 64)
        q.initializeMemory(as: UInt8.self, repeating: 0)
        sums = [Int32](repeating: 0, count: n)
        scales = [Float](repeating: 1, count: n)
    }

    public func row(_ k: Int) -> UnsafeMutablePointer<Int8> {
        (q.baseAddress! + k * stride).assumingMemoryBound(to: Int8.self)
    }

    public func deallocate() { q.deallocate() }
}

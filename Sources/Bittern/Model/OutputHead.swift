import BitternKernels

/// Runtime storage of the output head (vocab x embd), the largest single read of every token (657 MB in
/// F16 for 2B4T): `q8` (int8 in blocks of 32 with a float scale each, 9 bits per weight; the default,
/// about +0.2% perplexity per bitnet.cpp's measurements), `q6` (6-bit values in blocks of 32 with a float
/// scale, 7 bits per weight: 22% less to read than q8, for a small perplexity cost), `f16`, or `f32`
/// (exactly the file's values).
public enum HeadType: String, Sendable, CaseIterable {
    case q8, q6, f16, f32
    public static let `default` = HeadType.q8
}

public final class OutputHead: @unchecked Sendable {
    public let type: HeadType
    public let rows: Int
    public let cols: Int
    private var f32: [Float] = []
    private var f16: [UInt16] = []
    private var q8: [Int8] = []
    private var q8Scales: [Float] = []
    private var q6: [UInt8] = []
    private var q6Scales: [Float] = []

    /// Built from rows x cols floats that `fill(range, out)` writes (row-major), a few thousand rows at a
    /// time, so a large head never exists as F32 unless asked for.
    public init(rows: Int, cols: Int, type: HeadType, fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        self.type = type
        self.rows = rows
        self.cols = cols
        let chunk = max(1, (1 << 22) / max(cols, 1))
        var tmp = [Float](repeating: 0, count: min(rows, chunk) * cols)
        let nb = btk_q8_blocks(cols)
        switch type {
        case .f32: f32 = [Float](repeating: 0, count: rows * cols)
        case .f16: f16 = [UInt16](repeating: 0, count: rows * cols)
        case .q8:
            q8 = [Int8](repeating: 0, count: rows * cols)
            q8Scales = [Float](repeating: 0, count: rows * nb)
        case .q6:
            q6 = [UInt8](repeating: 0, count: rows * nb * Int(BTK_Q6_BLOCK_BYTES))
            q6Scales = [Float](repeating: 0, count: rows * nb)
        }
        var r = 0
        while r < rows {
            let n = min(chunk, rows - r)
            let range = r..<(r + n)
            switch type {
            case .f32:
                try f32.withUnsafeMutableBufferPointer { try fill(range, $0.baseAddress! + r * cols) }
            case .f16:
                try tmp.withUnsafeMutableBufferPointer { try fill(range, $0.baseAddress!) }
                tmp.withUnsafeBufferPointer { t in f16.withUnsafeMutableBufferPointer { btk_f32_to_f16(t.baseAddress!, $0.baseAddress! + r * cols, n * cols) } }
            case .q8:
                try tmp.withUnsafeMutableBufferPointer { try fill(range, $0.baseAddress!) }
                tmp.withUnsafeBufferPointer { t in
                    q8.withUnsafeMutableBufferPointer { q in
                        q8Scales.withUnsafeMutableBufferPointer {
                            btk_quantize_q8_rows(t.baseAddress!, n, cols, q.baseAddress! + r * cols, $0.baseAddress! + r * nb)
                        }
                    }
                }
            case .q6:
                try tmp.withUnsafeMutableBufferPointer { try fill(range, $0.baseAddress!) }
                let rowBytes = nb * Int(BTK_Q6_BLOCK_BYTES)
                tmp.withUnsafeBufferPointer { t in
                    q6.withUnsafeMutableBufferPointer { q in
                        q6Scales.withUnsafeMutableBufferPointer {
                            btk_quantize_q6_rows(t.baseAddress!, n, cols, q.baseAddress! + r * rowBytes, $0.baseAddress! + r * nb)
                        }
                    }
                }
            }
            r += n
        }
    }

    /// From rows x cols floats (row-major).
    public convenience init(_ w: [Float], rows: Int, cols: Int, type: HeadType) {
        self.init(rows: rows, cols: cols, type: type) { range, out in
            w.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound * cols, count: range.count * cols) }
        }
    }

    public var bytes: Int { f32.count * 4 + f16.count * 2 + q8.count + q8Scales.count * 4 + q6.count + q6Scales.count * 4 }

    /// Row t as floats (what the head multiplies with: a tied model's embedding lookups read it too).
    public func row(_ t: Int, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            f32.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + t * cols, count: cols) }
        case .f16:
            f16.withUnsafeBufferPointer { btk_f16_to_f32($0.baseAddress! + t * cols, out, cols) }
        case .q8:
            let nb = btk_q8_blocks(cols)
            q8.withUnsafeBufferPointer { q in
                q8Scales.withUnsafeBufferPointer { s in
                    for i in 0..<cols { out[i] = Float(q[t * cols + i]) * s[t * nb + i / 32] }
                }
            }
        case .q6:
            let nb = btk_q8_blocks(cols)
            q6.withUnsafeBufferPointer { q in
                q6Scales.withUnsafeBufferPointer { s in
                    btk_dequantize_q6_row(q.baseAddress! + t * nb * Int(BTK_Q6_BLOCK_BYTES), s.baseAddress! + t * nb, cols, out)
                }
            }
        }
    }

    /// The activation side of the q8 and q6 heads: x in int8 blocks of 32 with a scale each (as llama.cpp's
    /// Q8_0 x Q8_0 head), so the head's products are integer dot products. nil for the float types.
    public struct Input {
        var q: [Int8]
        var scales: [Float]
        /// Block sums of q (the q6 head's kernel needs them; empty for q8).
        var sums: [Int32] = []
    }

    public func prepare(_ x: UnsafePointer<Float>) -> Input? {
        guard type == .q8 || type == .q6 else { return nil }
        var input = Input(q: [Int8](repeating: 0, count: cols), scales: [Float](repeating: 0, count: btk_q8_blocks(cols)))
        input.q.withUnsafeMutableBufferPointer { q in
            input.scales.withUnsafeMutableBufferPointer { btk_quantize_q8_rows(x, 1, cols, q.baseAddress!, $0.baseAddress!) }
        }
        if type == .q6 {
            input.sums = [Int32](repeating: 0, count: input.scales.count)
            input.q.withUnsafeBufferPointer { q in input.sums.withUnsafeMutableBufferPointer { btk_q6_activation_sums(q.baseAddress!, cols, $0.baseAddress!) } }
        }
        return input
    }

    /// out[r - rows.lowerBound] = row r . x for r in the range (x as prepared, for q8).
    public func compute(_ x: UnsafePointer<Float>, _ input: Input?, rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let n = range.count
        if let input, type == .q6 {
            let nb = btk_q8_blocks(cols)
            q6.withUnsafeBufferPointer { q in
                q6Scales.withUnsafeBufferPointer { s in
                    input.q.withUnsafeBufferPointer { xq in
                        input.scales.withUnsafeBufferPointer { xs in
                            input.sums.withUnsafeBufferPointer { sums in
                                btk_gemv_q6q8(q.baseAddress! + range.lowerBound * nb * Int(BTK_Q6_BLOCK_BYTES),
                                              s.baseAddress! + range.lowerBound * nb, n, cols, xq.baseAddress!, xs.baseAddress!,
                                              sums.baseAddress!, out)
                            }
                        }
                    }
                }
            }
            return
        }
        if let input {
            let nb = btk_q8_blocks(cols)
            q8.withUnsafeBufferPointer { q in
                q8Scales.withUnsafeBufferPointer { s in
                    input.q.withUnsafeBufferPointer { xq in
                        input.scales.withUnsafeBufferPointer { xs in
                            btk_gemv_q8q8(q.baseAddress! + range.lowerBound * cols, s.baseAddress! + range.lowerBound * nb,
                                          n, cols, xq.baseAddress!, xs.baseAddress!, out)
                        }
                    }
                }
            }
            return
        }
        switch type {
        case .f32:
            f32.withUnsafeBufferPointer { btk_gemv_f32($0.baseAddress! + range.lowerBound * cols, n, cols, x, out) }
        case .f16:
            f16.withUnsafeBufferPointer { btk_gemv_f16($0.baseAddress! + range.lowerBound * cols, n, cols, x, out) }
        case .q8:
            let nb = btk_q8_blocks(cols)
            q8.withUnsafeBufferPointer { q in
                q8Scales.withUnsafeBufferPointer { s in
                    btk_gemv_q8(q.baseAddress! + range.lowerBound * cols, s.baseAddress! + range.lowerBound * nb, n, cols, x, out)
                }
            }
        case .q6:
            compute(x, prepare(x), rows: range, into: out)   // the q6 head always multiplies int8 activations
        }
    }
}

/// token_embd for lookups. A tied model (no output.weight) reads its rows from the head's storage, so
/// the largest tensor is held once (as llama.cpp does with a Q8_0 token_embd); an untied one keeps
/// token_embd as F16 when the file stores F16, else F32.
public final class EmbeddingTable: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    private var f32: [Float] = []
    private var f16: [UInt16] = []
    private let head: OutputHead?

    init(f32 w: [Float], rows: Int, cols: Int) { self.rows = rows; self.cols = cols; f32 = w; head = nil }
    init(f16 w: [UInt16], rows: Int, cols: Int) { self.rows = rows; self.cols = cols; f16 = w; head = nil }
    init(tiedTo h: OutputHead) { rows = h.rows; cols = h.cols; head = h }

    public var isF16: Bool { !f16.isEmpty }
    public var isTied: Bool { head != nil }
    /// Bytes held apart from the head.
    public var bytes: Int { f32.count * 4 + f16.count * 2 }

    public func row(_ t: Int, into out: UnsafeMutablePointer<Float>) {
        if let head { head.row(t, into: out); return }
        if isF16 {
            f16.withUnsafeBufferPointer { btk_f16_to_f32($0.baseAddress! + t * cols, out, cols) }
        } else {
            f32.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + t * cols, count: cols) }
        }
    }

    /// Every value as F32 (to build a head from a tied embedding).
    public func allFloats() -> [Float] {
        if !isF16 { return f32 }
        var out = [Float](repeating: 0, count: f16.count)
        f16.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { btk_f16_to_f32(s.baseAddress!, $0.baseAddress!, f16.count) } }
        return out
    }
}

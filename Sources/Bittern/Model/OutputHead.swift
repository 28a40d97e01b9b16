import BitternKernels

/// Runtime storage of the output head (vocab x embd), the largest single read of every token (657 MB in
/// F16 for 2B4T): `q8` (int8 in blocks of 32 with a float scale each; the default, about +0.2% perplexity
/// per bitnet.cpp's measurements), `f16`, or `f32` (exactly the file's values).
public enum HeadType: String, Sendable, CaseIterable {
    case q8, f16, f32
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

    /// From rows x cols floats (row-major).
    public init(_ w: [Float], rows: Int, cols: Int, type: HeadType) {
        self.type = type
        self.rows = rows
        self.cols = cols
        switch type {
        case .f32:
            f32 = w
        case .f16:
            f16 = [UInt16](repeating: 0, count: w.count)
            w.withUnsafeBufferPointer { s in f16.withUnsafeMutableBufferPointer { btk_f32_to_f16(s.baseAddress!, $0.baseAddress!, w.count) } }
        case .q8:
            q8 = [Int8](repeating: 0, count: w.count)
            q8Scales = [Float](repeating: 0, count: rows * btk_q8_blocks(cols))
            w.withUnsafeBufferPointer { s in
                q8.withUnsafeMutableBufferPointer { q in
                    q8Scales.withUnsafeMutableBufferPointer { btk_quantize_q8_rows(s.baseAddress!, rows, cols, q.baseAddress!, $0.baseAddress!) }
                }
            }
        }
    }

    public var bytes: Int { f32.count * 4 + f16.count * 2 + q8.count + q8Scales.count * 4 }

    /// out[r - rows.lowerBound] = row r . x for r in the range.
    public func compute(_ x: UnsafePointer<Float>, rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let n = range.count
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
        }
    }
}

/// token_embd for lookups: F16 when the file stores F16 (the published 2B4T file does: half the memory of
/// F32, exactly the same values), else F32.
public final class EmbeddingTable: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    private var f32: [Float] = []
    private var f16: [UInt16] = []

    init(f32 w: [Float], rows: Int, cols: Int) { self.rows = rows; self.cols = cols; f32 = w }
    init(f16 w: [UInt16], rows: Int, cols: Int) { self.rows = rows; self.cols = cols; f16 = w }

    public var isF16: Bool { !f16.isEmpty }
    public var bytes: Int { f32.count * 4 + f16.count * 2 }

    public func row(_ t: Int, into out: UnsafeMutablePointer<Float>) {
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

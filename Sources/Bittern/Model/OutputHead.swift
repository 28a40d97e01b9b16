import BitternKernels
import BitternSupport

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
    /// The rows in the type's encoding (F32, F16, int8, or 24-byte q6 blocks), and for q8/q6 one float
    /// scale per 32-value block: buffers a decode step streams through, allocated as the ternary weights
    /// are (2 MB-aligned, huge pages where granted).
    private let values: UnsafeMutableRawPointer
    private let valueBytes: Int
    private let scales: UnsafeMutablePointer<Float>?
    private let scaleCount: Int
    private let blocks: Int

    private var f32: UnsafeMutablePointer<Float> { values.assumingMemoryBound(to: Float.self) }
    private var f16: UnsafeMutablePointer<UInt16> { values.assumingMemoryBound(to: UInt16.self) }
    private var q8: UnsafeMutablePointer<Int8> { values.assumingMemoryBound(to: Int8.self) }
    private var q6: UnsafeMutablePointer<UInt8> { values.assumingMemoryBound(to: UInt8.self) }
    private var q6RowBytes: Int { blocks * Int(BTK_Q6_BLOCK_BYTES) }

    /// Built from rows x cols floats that `fill(range, out)` writes (row-major), a few thousand rows at a
    /// time, so a large head never exists as F32 unless asked for.
    public init(rows: Int, cols: Int, type: HeadType, fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) throws {
        self.type = type
        self.rows = rows
        self.cols = cols
        blocks = btk_q8_blocks(cols)
        let n = rows * cols
        switch type {
        case .f32: valueBytes = n * 4
        case .f16: valueBytes = n * 2
        case .q8: valueBytes = n
        case .q6: valueBytes = rows * blocks * Int(BTK_Q6_BLOCK_BYTES)
        }
        scaleCount = type == .q8 || type == .q6 ? rows * blocks : 0
        guard let v = bts_alloc_streamed(max(valueBytes, 1)) else {
            throw BitternError.outOfMemory("cannot allocate \(valueBytes) bytes for the output head")
        }
        values = v
        if scaleCount > 0 {
            guard let s = bts_alloc_streamed(scaleCount * 4) else {
                bts_aligned_free(v)
                throw BitternError.outOfMemory("cannot allocate \(scaleCount * 4) bytes for the output head's scales")
            }
            scales = s.bindMemory(to: Float.self, capacity: scaleCount)
        } else {
            scales = nil
        }
        do {
            try build(fill)
        } catch {
            bts_aligned_free(values)
            if let scales { bts_aligned_free(scales) }
            throw error
        }
    }

    private func build(_ fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) throws {
        let chunk = max(1, (1 << 22) / max(cols, 1))
        var tmp = [Float](repeating: 0, count: type == .f32 ? 0 : min(rows, chunk) * cols)
        let nb = blocks
        var r = 0
        while r < rows {
            let n = min(chunk, rows - r)
            let range = r..<(r + n)
            if type == .f32 {
                try fill(range, f32 + r * cols)
            } else {
                try tmp.withUnsafeMutableBufferPointer { t in
                    let t = t.baseAddress!
                    try fill(range, t)
                    switch type {
                    case .f32: break
                    case .f16: btk_f32_to_f16(t, f16 + r * cols, n * cols)
                    case .q8: btk_quantize_q8_rows(t, n, cols, q8 + r * cols, scales! + r * nb)
                    case .q6: btk_quantize_q6_rows(t, n, cols, q6 + r * q6RowBytes, scales! + r * nb)
                    }
                }
            }
            r += n
        }
    }

    deinit {
        bts_aligned_free(values)
        if let scales { bts_aligned_free(scales) }
    }

    /// From rows x cols floats (row-major).
    public convenience init(_ w: [Float], rows: Int, cols: Int, type: HeadType) throws {
        try self.init(rows: rows, cols: cols, type: type) { range, out in
            w.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + range.lowerBound * cols, count: range.count * cols) }
        }
    }

    public var bytes: Int { valueBytes + scaleCount * 4 }

    /// Row t as floats (what the head multiplies with: a tied model's embedding lookups read it too).
    public func row(_ t: Int, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32: out.update(from: f32 + t * cols, count: cols)
        case .f16: btk_f16_to_f32(f16 + t * cols, out, cols)
        case .q8:
            let (q, s) = (q8 + t * cols, scales! + t * blocks)
            for i in 0..<cols { out[i] = Float(q[i]) * s[i / 32] }
        case .q6: btk_dequantize_q6_row(q6 + t * q6RowBytes, scales! + t * blocks, cols, out)
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
        var input = Input(q: [Int8](repeating: 0, count: cols), scales: [Float](repeating: 0, count: blocks))
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
        let n = range.count, r0 = range.lowerBound
        if let input, type == .q6 || type == .q8 {
            input.q.withUnsafeBufferPointer { xq in
                input.scales.withUnsafeBufferPointer { xs in
                    if type == .q6 {
                        input.sums.withUnsafeBufferPointer { sums in
                            btk_gemv_q6q8(q6 + r0 * q6RowBytes, scales! + r0 * blocks, n, cols, xq.baseAddress!,
                                          xs.baseAddress!, sums.baseAddress!, out)
                        }
                    } else {
                        btk_gemv_q8q8(q8 + r0 * cols, scales! + r0 * blocks, n, cols, xq.baseAddress!, xs.baseAddress!, out)
                    }
                }
            }
            return
        }
        switch type {
        case .f32: btk_gemv_f32(f32 + r0 * cols, n, cols, x, out)
        case .f16: btk_gemv_f16(f16 + r0 * cols, n, cols, x, out)
        case .q8: btk_gemv_q8(q8 + r0 * cols, scales! + r0 * blocks, n, cols, x, out)
        case .q6: compute(x, prepare(x), rows: range, into: out)   // the q6 head always multiplies int8 activations
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

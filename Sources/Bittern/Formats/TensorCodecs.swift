import BitternKernels
/// ggml tensor types: ids, block geometry, and the decoders Bittern needs (ternary weights to canonical
/// trits; norms and embeddings to floats). Independent of the container: GGUF and safetensors readers hand
/// over a name (for messages), a type, dims (ne0 first) and the tensor's bytes.

/// A ggml tensor type as stored in a GGUF tensor info. Ids follow ggml-org/llama.cpp (ggml.h), except
/// 36, which Bittern reads as bitnet.cpp's I2_S (mainline llama.cpp reads it as a removed type and refuses
/// such files; FORMATS.md). Ids 37-39 differ between bitnet.cpp (I8_S, TL1, TL2) and llama.cpp (39 = MXFP4)
/// and are refused rather than guessed.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    public let id: UInt32
    public let name: String
    /// Weights per block (a row's ne0 must be a multiple of it).
    public let blockSize: Int
    /// Bytes per block.
    public let bytesPerBlock: Int
    /// Bytes after all blocks of the tensor (I2_S: 32, holding its one f32 scale and padding).
    public let trailerBytes: Int

    init(_ id: UInt32, _ name: String, _ blockSize: Int, _ bytesPerBlock: Int, trailer: Int = 0) {
        self.id = id
        self.name = name
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
        self.trailerBytes = trailer
    }

    public var description: String { name }

    public static let f32 = GGMLType(0, "F32", 1, 4)
    public static let f16 = GGMLType(1, "F16", 1, 2)
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34)
    public static let bf16 = GGMLType(30, "BF16", 1, 2)
    public static let tq1_0 = GGMLType(34, "TQ1_0", 256, 54)
    public static let tq2_0 = GGMLType(35, "TQ2_0", 256, 66)
    /// bitnet.cpp's I2_S: 2 bits per weight over the flattened tensor, then one f32 scale (+ padding) in
    /// 32 trailing bytes. Size granularity is 4 weights per byte; the decoder requires whole 128-weight
    /// (x86 layout) or 64-weight (ARM layout) blocks per row.
    public static let i2_s = GGMLType(36, "I2_S", 4, 1, trailer: 32)

    /// Every type whose size Bittern knows, so that a file holding other tensors (a Q6_K head, I32 data)
    /// still opens; only the types with decoders below can be read as weights or floats.
    static let known: [GGMLType] = {
        let k = 256
        return [
            f32, f16,
            GGMLType(2, "Q4_0", 32, 18), GGMLType(3, "Q4_1", 32, 20),
            GGMLType(6, "Q5_0", 32, 22), GGMLType(7, "Q5_1", 32, 24),
            q8_0, GGMLType(9, "Q8_1", 32, 40),
            GGMLType(10, "Q2_K", k, 2 + 2 + k / 16 + k / 4),
            GGMLType(11, "Q3_K", k, 2 + k / 4 + k / 8 + 12),
            GGMLType(12, "Q4_K", k, 2 + 2 + k / 2 + 12),
            GGMLType(13, "Q5_K", k, 2 + 2 + k / 2 + k / 8 + 12),
            GGMLType(14, "Q6_K", k, 2 + k / 2 + k / 4 + k / 16),
            GGMLType(15, "Q8_K", k, 4 + k + k / 8),
            GGMLType(16, "IQ2_XXS", k, 2 + k / 4),
            GGMLType(17, "IQ2_XS", k, 2 + k / 4 + k / 32),
            GGMLType(18, "IQ3_XXS", k, 2 + k / 4 + k / 8),
            GGMLType(19, "IQ1_S", k, 2 + k / 8 + k / 16),
            GGMLType(20, "IQ4_NL", 32, 18),
            GGMLType(21, "IQ3_S", k, 2 + k / 4 + k / 8 + k / 32 + 4),
            GGMLType(22, "IQ2_S", k, 2 + k / 4 + k / 16),
            GGMLType(23, "IQ4_XS", k, 2 + 2 + k / 2 + k / 64),
            GGMLType(24, "I8", 1, 1), GGMLType(25, "I16", 1, 2), GGMLType(26, "I32", 1, 4),
            GGMLType(27, "I64", 1, 8), GGMLType(28, "F64", 1, 8),
            GGMLType(29, "IQ1_M", k, k / 8 + k / 16 + k / 32),
            bf16, tq1_0, tq2_0, i2_s,
        ]
    }()

    /// The type with this id, or nil when Bittern does not know it.
    public static func from(id: UInt32) -> GGMLType? {
        known.first { $0.id == id }
    }

    /// Why an id is not accepted, for error messages.
    static func unknownDescription(_ id: UInt32) -> String {
        switch id {
        case 37: return "ggml type id 37 (I8_S in bitnet.cpp) is not supported"
        case 38: return "ggml type id 38 (TL1 in bitnet.cpp; its layout depends on per-model generated code) is not supported"
        case 39: return "ggml type id 39 (MXFP4 in llama.cpp, TL2 in bitnet.cpp: ambiguous) is not supported"
        default: return "unknown ggml type id \(id)"
        }
    }

    /// Bytes of one row of ne0 weights (ne0 a multiple of blockSize), nil on overflow.
    func rowBytes(_ ne0: Int) -> Int? {
        guard ne0 >= 0, ne0 % blockSize == 0 else { return nil }
        let (b, o) = (ne0 / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return o ? nil : b
    }

    /// The byte size of a tensor of this type with dims ne (ne0 first), checked for overflow and for ne0
    /// being a whole number of blocks. Errors name the tensor.
    public func byteSize(dims ne: [Int], tensor name: String) throws -> Int {
        var count = 1
        for d in ne {
            guard d >= 0 else { throw BitternError.format("tensor '\(name)': negative dimension \(d)") }
            let (c, o) = count.multipliedReportingOverflow(by: d)
            guard !o else {
                throw BitternError.format("tensor '\(name)': dimensions \(ne) overflow (the element count does not fit in 64 bits)")
            }
            count = c
        }
        let ne0 = ne.first ?? 1
        guard ne0 % blockSize == 0 else {
            throw BitternError.format(
                "tensor '\(name)': ne0 = \(ne0) is not a multiple of the \(self.name) block size \(blockSize)")
        }
        let (blocksBytes, o) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        let (total, o2) = blocksBytes.addingReportingOverflow(trailerBytes)
        guard !o, !o2 else {
            throw BitternError.format("tensor '\(name)': its byte size (\(count) \(self.name) weights) overflows")
        }
        return total
    }
}

// MARK: - f16 / bf16

/// IEEE binary16 bits to Float (exact).
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32((h >> 10) & 0x1f)
    let mant = UInt32(h & 0x3ff)
    if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
    if exp == 0 {
        // Zero or subnormal: mant * 2^-24, exact in Float.
        let v = Float(mant) * (1.0 / 16_777_216.0)
        return sign != 0 ? -v : v
    }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Float to IEEE binary16 bits, rounding to nearest even (overflow to infinity; NaN stays NaN).
public func floatToHalf(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
    let a = x & 0x7fff_ffff
    if a >= 0x7f80_0000 {
        if a == 0x7f80_0000 { return sign | 0x7c00 }
        return sign | 0x7e00 | UInt16(truncatingIfNeeded: (a >> 13) & 0x3ff)
    }
    if a >= 0x477f_f000 { return sign | 0x7c00 }  // >= 65520 rounds to infinity
    if a < 0x3880_0000 {
        // Below 2^-14: a binary16 subnormal (or zero); scaling by 2^24 is exact.
        let v = Float(bitPattern: a) * 16_777_216.0
        return sign | UInt16(v.rounded(.toNearestOrEven))
    }
    let mant = a & 0x7f_ffff
    var h = (((a >> 23) - 112) << 10) | (mant >> 13)
    let rest = mant & 0x1fff
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0) { h += 1 }  // a carry into the exponent is right
    return sign | UInt16(truncatingIfNeeded: h)
}

@inline(__always)
public func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

// MARK: - Decoders

/// How the 2-bit codes of an I2_S tensor are grouped. bitnet.cpp writes I2_S with the block size of the
/// machine that converted the file, under the same type id and the same byte size, so the bytes alone
/// cannot tell the two apart.
public enum I2SLayout: Sendable, Equatable {
    /// Blocks of 128 weights in 32 bytes; byte p = c[p]<<6 | c[32+p]<<4 | c[64+p]<<2 | c[96+p].
    /// x86 builds of bitnet.cpp and the published `ggml-model-i2_s.gguf` files use it: the default.
    case x86
    /// Blocks of 64 weights in 16 bytes; byte p = c[p]<<6 | c[16+p]<<4 | c[32+p]<<2 | c[48+p].
    /// Written by ARM (NEON) builds of bitnet.cpp since 2025-11: declare it when a file came from one.
    case arm

    var blockWeights: Int { self == .x86 ? 128 : 64 }
}

/// Options for decoding ternary weights.
public struct TernaryDecodeOptions: Sendable {
    public var i2sLayout: I2SLayout = .x86
    /// Threshold for absmean quantization of float weights that are not already ternary.
    public var zeroThreshold: Float = Quantizer.defaultZeroThreshold
    public init() {}
}

/// A weight tensor in the canonical form every backend packs from: row-major trits (rows = ne1*ne2*ne3,
/// cols = ne0) and one scale, W ~ alpha * trits.
public struct CanonicalTernary: Sendable {
    public var rows: Int
    public var cols: Int
    public var trits: [Int8]
    public var alpha: Float
    /// Trits equal to 0.
    public var zeroCount: Int
    /// True when the file already held ternary values (the conversion is exact); false when float
    /// weights went through absmean quantization.
    public var exact: Bool
}

/// The scale used for a tensor whose trits are all zero (any positive value gives the same products);
/// the same floor as absmean quantization.
let allZeroAlpha: Float = 1e-5

public enum TensorCodecs {
    /// Checks that bytes has exactly the size the type and dims imply.
    static func checkSize(_ name: String, _ type: GGMLType, _ ne: [Int], _ bytes: UnsafeRawBufferPointer) throws -> Int {
        let want = try type.byteSize(dims: ne, tensor: name)
        guard bytes.count == want else {
            throw BitternError.format("tensor '\(name)' (\(type.name), dims \(ne)) has \(bytes.count) bytes, expected \(want)")
        }
        return want
    }

    static func shape(_ ne: [Int]) -> (rows: Int, cols: Int) {
        let cols = ne.first ?? 1
        let count = ne.reduce(1, *)  // checked by byteSize before any call
        return (cols == 0 ? 0 : count / cols, cols)
    }

    /// Decodes a weight tensor to canonical trits and one scale.
    /// - TQ1_0/TQ2_0: the per-block f16 scales of blocks with a nonzero trit must be one value (bit patterns
    ///   at most one f16 ulp apart); alpha is the first such block's scale. A block whose scale is 0 holds
    ///   only zeros whatever its codes.
    /// - I2_S: codes 0,1,2 = -1,0,+1 (code 3 is an error); alpha = the tensor's f32 scale.
    /// - F32/F16/BF16: values that are all in {-a, 0, +a} convert exactly with alpha = a; other weights are
    ///   absmean-quantized (Quantizer), `exact` = false.
    public static func decodeTernary(name: String, type: GGMLType, dims ne: [Int], bytes: UnsafeRawBufferPointer,
                                     options: TernaryDecodeOptions = TernaryDecodeOptions()) throws -> CanonicalTernary {
        _ = try checkSize(name, type, ne, bytes)
        let (rows, cols) = shape(ne)
        let n = rows * cols
        guard n > 0 else { throw BitternError.format("tensor '\(name)' has no elements (dims \(ne))") }
        guard let base = bytes.baseAddress else { throw BitternError.format("tensor '\(name)' has no data") }
        switch type.id {
        case GGMLType.tq2_0.id, GGMLType.tq1_0.id:
            return try decodeTQ(name, type, base, rows: rows, cols: cols)
        case GGMLType.i2_s.id:
            return try decodeI2S(name, base, rows: rows, cols: cols, layout: options.i2sLayout)
        case GGMLType.f32.id:
            return try decodeFloatWeights(name, rows: rows, cols: cols, magnitudeMask: 0x7fff_ffff, options: options,
                                          bits: { UInt32(base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) },
                                          toFloat: { Float(bitPattern: $0) })
        case GGMLType.f16.id:
            return try decodeFloatWeights(name, rows: rows, cols: cols, magnitudeMask: 0x7fff, options: options,
                                          bits: { UInt32(base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) },
                                          toFloat: { halfToFloat(UInt16(truncatingIfNeeded: $0)) })
        case GGMLType.bf16.id:
            return try decodeFloatWeights(name, rows: rows, cols: cols, magnitudeMask: 0x7fff, options: options,
                                          bits: { UInt32(base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) },
                                          toFloat: { bf16ToFloat(UInt16(truncatingIfNeeded: $0)) })
        default:
            throw BitternError.format(
                "tensor '\(name)' has type \(type.name) (id \(type.id)); ternary weights must be I2_S, TQ1_0, TQ2_0, F32, F16 or BF16")
        }
    }

    /// Tracks the per-block scales of TQ1_0/TQ2_0 tensors.
    private struct ScaleCheck {
        var reference: UInt16?
        let name: String

        /// Returns false when the block's trits must be zeroed (scale 0); throws on a scale that breaks the rule.
        mutating func accept(_ d: UInt16, block: Int, hasNonzero: Bool) throws -> Bool {
            let mag = d & 0x7fff
            if mag == 0 { return false }
            guard hasNonzero else { return true }
            guard mag < 0x7c00 else {
                throw BitternError.format("tensor '\(name)': block \(block) has a non-finite scale (\(halfToFloat(d)))")
            }
            guard d & 0x8000 == 0 else {
                throw BitternError.format("tensor '\(name)': block \(block) has a negative scale (\(halfToFloat(d)))")
            }
            if let r = reference {
                guard abs(Int(d) - Int(r)) <= 1 else {
                    throw BitternError.format(
                        "tensor '\(name)': block \(block) has scale \(halfToFloat(d)), block scales must all equal \(halfToFloat(r)) "
                            + "(a ternary tensor has one scale; this file holds per-block scales that differ)")
                }
            } else {
                reference = d
            }
            return true
        }
    }

    private static let pow3: [UInt8] = [1, 3, 9, 27, 81]

    private static func decodeTQ(_ name: String, _ type: GGMLType, _ base: UnsafeRawPointer,
                                 rows: Int, cols: Int) throws -> CanonicalTernary {
        let n = rows * cols
        var trits = [Int8](repeating: 0, count: n)
        var check = ScaleCheck(reference: nil, name: name)
        var zeros = 0
        let blocks = n / 256
        let isTQ2 = type.id == GGMLType.tq2_0.id
        let bpb = type.bytesPerBlock
        try trits.withUnsafeMutableBufferPointer { out in
            guard let o = out.baseAddress else { return }
            let q = base.assumingMemoryBound(to: UInt8.self)  // UInt8 has alignment 1
            for b in 0..<blocks {
                let blk = q + b * bpb
                let t = o + b * 256
                var nonzero = false
                if isTQ2 {
                    var any: Int32 = 0
                    if btk_unpack_tq2_0(blk, t, &any) != 0 {
                        // Find the byte for the message (rare path).
                        let byte: Int? = (0..<64).first(where: { m in (0..<4).contains { k in (blk[m] >> (2 * UInt8(k))) & 3 == 3 } })
                        throw BitternError.format("tensor '\(name)': block \(b) holds the invalid TQ2_0 code 3 (byte \(byte ?? 0))")
                    }
                    nonzero = any != 0
                } else {
                    // qs[0..<32]: element m + 32k; qs[32..<48]: 160 + m + 16k; qh[0..<4]: 240 + m + 4k.
                    func unpack(_ byte: UInt8, _ k: Int) -> Int8 {
                        let x = UInt16(byte &* pow3[k]) * 3
                        return Int8(truncatingIfNeeded: x >> 8) - 1
                    }
                    for m in 0..<32 {
                        for k in 0..<5 { t[m + 32 * k] = unpack(blk[m], k) }
                    }
                    for m in 0..<16 {
                        for k in 0..<5 { t[160 + m + 16 * k] = unpack(blk[32 + m], k) }
                    }
                    for m in 0..<4 {
                        for k in 0..<4 { t[240 + m + 4 * k] = unpack(blk[48 + m], k) }
                    }
                    for i in 0..<256 where t[i] != 0 { nonzero = true; break }
                }
                let d = UnsafeRawPointer(blk).loadUnaligned(fromByteOffset: bpb - 2, as: UInt16.self)
                if try !check.accept(d, block: b, hasNonzero: nonzero) {
                    for i in 0..<256 { t[i] = 0 }
                }
                for i in 0..<256 where t[i] == 0 { zeros += 1 }
            }
        }
        let alpha = check.reference.map { halfToFloat($0) } ?? allZeroAlpha
        return CanonicalTernary(rows: rows, cols: cols, trits: trits, alpha: alpha, zeroCount: zeros, exact: true)
    }

    private static func decodeI2S(_ name: String, _ base: UnsafeRawPointer, rows: Int, cols: Int,
                                  layout: I2SLayout) throws -> CanonicalTernary {
        let bw = layout.blockWeights
        guard cols % bw == 0 else {
            throw BitternError.format(
                "tensor '\(name)': I2_S (\(layout == .x86 ? "x86 128" : "ARM 64")-weight blocks) needs ne0 to be a multiple of \(bw), got \(cols)")
        }
        let n = rows * cols
        let group = bw / 4  // bytes per block = weights per 2-bit group
        let scale = base.loadUnaligned(fromByteOffset: n / 4, as: Float.self)
        var trits = [Int8](repeating: 0, count: n)
        var zeros = 0
        try trits.withUnsafeMutableBufferPointer { out in
            guard let o = out.baseAddress else { return }
            let q = base.assumingMemoryBound(to: UInt8.self)
            for b in 0..<(n / bw) {
                let blk = q + b * group
                let t = o + b * bw
                for p in 0..<group {
                    let byte = blk[p]
                    for g in 0..<4 {
                        let c = (byte >> UInt8(6 - 2 * g)) & 3
                        guard c != 3 else {
                            throw BitternError.format("tensor '\(name)': byte \(b * group + p) holds the invalid I2_S code 3")
                        }
                        let v = Int8(c) - 1
                        t[g * group + p] = v
                        if v == 0 { zeros += 1 }
                    }
                }
            }
        }
        let alpha: Float
        if zeros == n {
            alpha = scale.isFinite && scale > 0 ? scale : allZeroAlpha
        } else {
            guard scale.isFinite, scale > 0 else {
                throw BitternError.format("tensor '\(name)': the I2_S scale is \(scale); it must be finite and > 0")
            }
            alpha = scale
        }
        return CanonicalTernary(rows: rows, cols: cols, trits: trits, alpha: alpha, zeroCount: zeros, exact: true)
    }

    private static func decodeFloatWeights(_ name: String, rows: Int, cols: Int, magnitudeMask: UInt32,
                                           options: TernaryDecodeOptions,
                                           bits: (Int) -> UInt32, toFloat: (UInt32) -> Float) throws -> CanonicalTernary {
        let n = rows * cols
        let signBit = magnitudeMask &+ 1
        var trits = [Int8](repeating: 0, count: n)
        var a: UInt32 = 0
        var zeros = 0
        var ternary = true
        trits.withUnsafeMutableBufferPointer { out in
            for i in 0..<n {
                let v = bits(i)
                let m = v & magnitudeMask
                if m == 0 { zeros += 1; continue }
                if a == 0 { a = m }
                guard m == a else { ternary = false; return }
                out[i] = v & signBit != 0 ? -1 : 1
            }
        }
        if ternary {
            let alpha = a == 0 ? allZeroAlpha : toFloat(a)
            if alpha.isFinite, alpha > 0 {
                return CanonicalTernary(rows: rows, cols: cols, trits: trits, alpha: alpha, zeroCount: zeros, exact: true)
            }
            // {-a, 0, a} with a = inf or NaN: fall through; absmean refuses non-finite weights.
        }
        var w = [Float](repeating: 0, count: n)
        for i in 0..<n { w[i] = toFloat(bits(i)) }
        do {
            let q = try w.withUnsafeBufferPointer { p -> Quantizer.Result in
                guard let b = p.baseAddress else { throw BitternError.format("tensor '\(name)' has no elements") }
                return try Quantizer.absmean(b, count: n, zeroThreshold: options.zeroThreshold)
            }
            return CanonicalTernary(rows: rows, cols: cols, trits: q.trits, alpha: q.alpha, zeroCount: q.zeros, exact: false)
        } catch let e as BitternError where e.status == Status.invalidArgument {
            throw BitternError.format("tensor '\(name)': \(e.message)")
        }
    }

    // MARK: floats

    /// Decodes a whole F32/F16/BF16/Q8_0 tensor to floats (row-major, ne0 fastest).
    public static func decodeFloats(name: String, type: GGMLType, dims ne: [Int], bytes: UnsafeRawBufferPointer) throws -> [Float] {
        _ = try checkSize(name, type, ne, bytes)
        let (rows, cols) = shape(ne)
        var out = [Float](repeating: 0, count: rows * cols)
        try out.withUnsafeMutableBufferPointer { o in
            try decodeFloatRows(name: name, type: type, dims: ne, bytes: bytes, rows: 0..<rows, into: o)
        }
        return out
    }

    /// Decodes rows (each ne0 floats) of an F32/F16/BF16/Q8_0 tensor into out, which must hold
    /// rows.count * ne0 floats. An embedding lookup reads one row this way.
    public static func decodeFloatRows(name: String, type: GGMLType, dims ne: [Int], bytes: UnsafeRawBufferPointer,
                                       rows range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws {
        _ = try checkSize(name, type, ne, bytes)
        let (rows, cols) = shape(ne)
        guard range.lowerBound >= 0, range.upperBound <= rows else {
            throw BitternError.invalidArgument("tensor '\(name)': rows \(range) out of 0..<\(rows)")
        }
        guard out.count >= range.count * cols else {
            throw BitternError.invalidArgument("tensor '\(name)': output holds \(out.count) floats, \(range.count * cols) needed")
        }
        guard let rowBytes = type.rowBytes(cols) else {
            throw BitternError.format("tensor '\(name)': ne0 = \(cols) is not a multiple of the \(type.name) block size")
        }
        guard range.count > 0, cols > 0, let base = bytes.baseAddress, let o = out.baseAddress else { return }
        let src = base + range.lowerBound * rowBytes
        let count = range.count * cols
        switch type.id {
        case GGMLType.f32.id:
            UnsafeMutableRawPointer(o).copyMemory(from: src, byteCount: count * 4)
        case GGMLType.f16.id:
            for i in 0..<count { o[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case GGMLType.bf16.id:
            for i in 0..<count { o[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case GGMLType.q8_0.id:
            for b in 0..<(count / 32) {
                let blk = src + b * 34
                let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
                let q = (blk + 2).assumingMemoryBound(to: Int8.self)
                for j in 0..<32 { o[b * 32 + j] = d * Float(q[j]) }
            }
        default:
            throw BitternError.format(
                "tensor '\(name)' has type \(type.name) (id \(type.id)); float tensors must be F32, F16, BF16 or Q8_0")
        }
    }
}

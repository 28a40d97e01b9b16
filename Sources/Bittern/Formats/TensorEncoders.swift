#if canImport(Glibc)
import Glibc
#endif

/// Writes tensors in GGUF types: the inverse of TensorCodecs for ternary weights (canonical trits and one
/// scale to I2_S, TQ1_0, TQ2_0, or ternary-valued F16/F32) and float tensors to F32, F16 and Q8_0.
/// Layouts are FORMATS.md's; each encoder is tested as the exact inverse of its decoder.
public enum TensorEncoders {
    /// The types a converted weight can be written in: the ternary ones, and F16/F32 holding -alpha, 0 and
    /// alpha (exact, but large).
    public static let weightTypes: [GGMLType] = [.i2_s, .tq2_0, .tq1_0, .f16, .f32]
    /// The types a token embedding or head can be written in.
    public static let headTypes: [GGMLType] = [.f16, .q8_0, .f32]

    /// The type among `allowed` that `name` names (case-insensitive; "q8" is Q8_0).
    public static func type(named name: String, in allowed: [GGMLType]) -> GGMLType? {
        let wanted = name.lowercased() == "q8" ? "q8_0" : name.lowercased()
        return allowed.first { $0.name.lowercased() == wanted }
    }

    /// "i2_s, tq2_0, ...": the names a user may give, for messages.
    public static func names(_ allowed: [GGMLType]) -> String {
        allowed.map { $0.name.lowercased() }.joined(separator: ", ")
    }

    /// Why a ternary tensor of ne0 = cols cannot be written in `type`, or nil when it can.
    public static func ternaryUnsupportedReason(_ type: GGMLType, cols: Int) -> String? {
        switch type.id {
        case GGMLType.i2_s.id where cols % 128 != 0:
            return "I2_S needs rows of a multiple of 128 weights, this tensor's rows have \(cols)"
        case GGMLType.tq1_0.id, GGMLType.tq2_0.id:
            return cols % 256 == 0 ? nil : "\(type.name) needs rows of a multiple of 256 weights, this tensor's rows have \(cols)"
        case GGMLType.i2_s.id, GGMLType.f16.id, GGMLType.f32.id: return nil
        default: return "\(type.name) is not a ternary type (use i2_s, tq1_0, tq2_0, f16 or f32)"
        }
    }

    /// Encodes rows x cols trits (row-major) with scale alpha. Throws when the type cannot hold the shape.
    public static func encodeTernary(_ t: CanonicalTernary, as type: GGMLType, name: String) throws -> [UInt8] {
        if let why = ternaryUnsupportedReason(type, cols: t.cols) {
            throw BitternError.unsupported("tensor '\(name)': \(why)")
        }
        let n = t.rows * t.cols
        guard t.alpha.isFinite, t.alpha > 0 else {
            throw BitternError.format("tensor '\(name)': scale \(t.alpha) is not a finite positive number")
        }
        if [GGMLType.tq1_0.id, GGMLType.tq2_0.id, GGMLType.f16.id].contains(type.id), t.zeroCount < n {
            // These types hold the scale as F16: it must survive the conversion.
            let h = floatToHalf(t.alpha)
            guard h & 0x7fff != 0, h & 0x7c00 != 0x7c00 else {
                throw BitternError.unsupported("tensor '\(name)': its scale \(t.alpha) does not fit \(type.name)'s F16 scale (use i2_s)")
            }
        }
        return t.trits.withUnsafeBufferPointer { tr -> [UInt8] in
            switch type.id {
            case GGMLType.i2_s.id: return i2s(tr, count: n, alpha: t.alpha)
            case GGMLType.tq2_0.id: return tq2(tr, count: n, alpha: t.alpha)
            case GGMLType.tq1_0.id: return tq1(tr, count: n, alpha: t.alpha)
            case GGMLType.f16.id:
                let pos = floatToHalf(t.alpha), neg = pos | 0x8000
                return halves(count: n) { tr[$0] == 0 ? 0 : (tr[$0] > 0 ? pos : neg) }
            default:
                var out = [UInt8](repeating: 0, count: 4 * n)
                out.withUnsafeMutableBytes { o in
                    for i in 0..<n { o.storeBytes(of: Float(tr[i]) * t.alpha, toByteOffset: 4 * i, as: Float.self) }
                }
                return out
            }
        }
    }

    /// I2_S, x86 layout: 128-weight blocks of 32 bytes, byte p = c[p]<<6 | c[32+p]<<4 | c[64+p]<<2 | c[96+p]
    /// with c = trit + 1; then the f32 scale and padding to 32 bytes.
    static func i2s(_ t: UnsafeBufferPointer<Int8>, count n: Int, alpha: Float) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n / 4 + 32)
        out.withUnsafeMutableBytes { o in
            for b in 0..<(n / 128) {
                let w = b * 128
                for p in 0..<32 {
                    var byte: UInt8 = 0
                    for g in 0..<4 { byte |= UInt8(t[w + 32 * g + p] + 1) << UInt8(6 - 2 * g) }
                    o[b * 32 + p] = byte
                }
            }
            o.storeBytes(of: alpha, toByteOffset: n / 4, as: Float.self)
        }
        return out
    }

    /// TQ2_0: 256-weight blocks of 64 code bytes then f16 d; in each 32-byte half, element m + 32k of the
    /// half's 128 sits in byte m at bits 2k. Every block carries the tensor's one scale.
    static func tq2(_ t: UnsafeBufferPointer<Int8>, count n: Int, alpha: Float) -> [UInt8] {
        let d = floatToHalf(alpha)
        var out = [UInt8](repeating: 0, count: n / 256 * 66)
        out.withUnsafeMutableBytes { o in
            for b in 0..<(n / 256) {
                let w = b * 256, base = b * 66
                for h in 0..<2 {
                    for m in 0..<32 {
                        var byte: UInt8 = 0
                        for k in 0..<4 { byte |= UInt8(t[w + 128 * h + m + 32 * k] + 1) << UInt8(2 * k) }
                        o[base + 32 * h + m] = byte
                    }
                }
                o.storeBytes(of: d, toByteOffset: base + 64, as: UInt16.self)
            }
        }
        return out
    }

    /// TQ1_0: 256-weight blocks: qs[0..<32] hold elements m + 32k (k < 5), qs[32..<48] 160 + m + 16k,
    /// qh[0..<4] 240 + m + 4k (k < 4); a byte's value v = sum c_k 3^(4-k) is stored as ceil(v * 256 / 243)
    /// so that trit k is ((byte * 3^k) mod 256 * 3) >> 8. Then f16 d.
    static func tq1(_ t: UnsafeBufferPointer<Int8>, count n: Int, alpha: Float) -> [UInt8] {
        let d = floatToHalf(alpha)
        var out = [UInt8](repeating: 0, count: n / 256 * 54)
        func pack(_ idx: (Int) -> Int, trits: Int) -> UInt8 {
            var v = 0
            for k in 0..<5 { v = v * 3 + (k < trits ? Int(t[idx(k)] + 1) : 0) }
            return UInt8((v * 256 + 242) / 243)
        }
        out.withUnsafeMutableBytes { o in
            for b in 0..<(n / 256) {
                let w = b * 256, base = b * 54
                for m in 0..<32 { o[base + m] = pack({ w + m + 32 * $0 }, trits: 5) }
                for m in 0..<16 { o[base + 32 + m] = pack({ w + 160 + m + 16 * $0 }, trits: 5) }
                for m in 0..<4 { o[base + 48 + m] = pack({ w + 240 + m + 4 * $0 }, trits: 4) }
                o.storeBytes(of: d, toByteOffset: base + 52, as: UInt16.self)
            }
        }
        return out
    }

    static func halves(count n: Int, _ value: (Int) -> UInt16) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 2 * n)
        out.withUnsafeMutableBytes { o in
            for i in 0..<n { o.storeBytes(of: value(i), toByteOffset: 2 * i, as: UInt16.self) }
        }
        return out
    }

    /// Encodes rows of ne0 = cols floats. Q8_0 needs cols % 32 == 0 (llama.cpp's reference rounding:
    /// d = amax / 127, q = round-half-away(x / d)).
    public static func encodeFloats(_ x: [Float], cols: Int, as type: GGMLType, name: String) throws -> [UInt8] {
        for (i, v) in x.enumerated() where !v.isFinite {
            throw BitternError.format("tensor '\(name)': value \(i) is \(v); weights must be finite")
        }
        switch type.id {
        case GGMLType.f32.id:
            var out = [UInt8](repeating: 0, count: 4 * x.count)
            out.withUnsafeMutableBytes { o in x.withUnsafeBytes { o.copyMemory(from: $0) } }
            return out
        case GGMLType.f16.id:
            for (i, v) in x.enumerated() where abs(v) > 65504 {
                throw BitternError.unsupported("tensor '\(name)': value \(i) = \(v) does not fit F16 (use --head q8 or f32)")
            }
            return halves(count: x.count) { floatToHalf(x[$0]) }
        case GGMLType.q8_0.id:
            guard cols % 32 == 0 else {
                throw BitternError.unsupported("tensor '\(name)': Q8_0 needs rows of a multiple of 32 values, these have \(cols)")
            }
            for (i, v) in x.enumerated() where abs(v) / 127 > 65504 {
                throw BitternError.unsupported("tensor '\(name)': value \(i) = \(v) is too large for Q8_0's F16 block scale (use f32)")
            }
            var out = [UInt8](repeating: 0, count: x.count / 32 * 34)
            out.withUnsafeMutableBytes { o in
                for b in 0..<(x.count / 32) {
                    var amax: Float = 0
                    for j in 0..<32 { amax = max(amax, abs(x[32 * b + j])) }
                    let d = amax / 127
                    // 1/d in Double: a subnormal d has no finite Float reciprocal.
                    let id: Double = d != 0 ? 1 / Double(d) : 0
                    o.storeBytes(of: floatToHalf(d), toByteOffset: 34 * b, as: UInt16.self)
                    for j in 0..<32 {
                        let q = (Double(x[32 * b + j]) * id).rounded(.toNearestOrAwayFromZero)
                        o.storeBytes(of: Int8(max(-127, min(127, q))), toByteOffset: 34 * b + 2 + j, as: Int8.self)
                    }
                }
            }
            return out
        default:
            throw BitternError.unsupported("tensor '\(name)': cannot write floats as \(type.name) (use f32, f16 or q8_0)")
        }
    }
}

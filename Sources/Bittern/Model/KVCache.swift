#if canImport(Glibc)
import Glibc
#endif
import BitternKernels

/// Storage type of the KV cache: F16 halves the memory of long contexts (the default); F32 keeps the
/// exact values the forward pass computed.
public enum KVType: String, Sendable, CaseIterable {
    case f16, f32
    var bytes: Int { self == .f16 ? 2 : 4 }
}

/// Keys and values of every layer for up to nCtx positions, kvDim values per position and layer.
public final class KVCache: @unchecked Sendable {
    public let nCtx: Int
    public let layers: Int
    /// Values per position per layer (n_head_kv * head_dim).
    public let kvDim: Int
    public let type: KVType
    private let k: UnsafeMutableRawPointer
    private let v: UnsafeMutableRawPointer
    private let count: Int

    public init(layers: Int, nCtx: Int, kvDim: Int, type: KVType = .f16) throws {
        guard layers >= 1, nCtx >= 1, kvDim >= 1 else {
            throw BitternError.invalidArgument("KV cache: layers \(layers), n_ctx \(nCtx), kv dim \(kvDim) must all be >= 1")
        }
        let (a, o1) = layers.multipliedReportingOverflow(by: nCtx)
        let (n, o2) = a.multipliedReportingOverflow(by: kvDim)
        guard !o1, !o2, n <= Int.max / 16 else {
            throw BitternError.outOfMemory("KV cache of \(layers) x \(nCtx) x \(kvDim) values is too large")
        }
        self.nCtx = nCtx
        self.layers = layers
        self.kvDim = kvDim
        self.type = type
        count = n
        guard let kk = calloc(n, type.bytes), let vv = calloc(n, type.bytes) else {
            throw BitternError.outOfMemory("KV cache of \(2 * n * type.bytes) bytes could not be allocated")
        }
        k = kk
        v = vv
    }

    deinit {
        free(k)
        free(v)
    }

    /// Bytes held (keys and values).
    public var bytes: Int { 2 * count * type.bytes }

    private func offset(_ l: Int, _ pos: Int) -> Int { ((l * nCtx + pos) * kvDim) * type.bytes }

    /// Stores the kvDim keys and values of layer l at position pos.
    public func store(layer l: Int, pos: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        let o = offset(l, pos)
        switch type {
        case .f32:
            (k + o).assumingMemoryBound(to: Float.self).update(from: keys, count: kvDim)
            (v + o).assumingMemoryBound(to: Float.self).update(from: values, count: kvDim)
        case .f16:
            btk_f32_to_f16(keys, (k + o).assumingMemoryBound(to: UInt16.self), kvDim)
            btk_f32_to_f16(values, (v + o).assumingMemoryBound(to: UInt16.self), kvDim)
        }
    }

    /// Start of layer l's keys / values at position 0, plus `element` values (a head's offset).
    func keys(layer l: Int, element: Int) -> UnsafeRawPointer { UnsafeRawPointer(k + offset(l, 0) + element * type.bytes) }
    func values(layer l: Int, element: Int) -> UnsafeRawPointer { UnsafeRawPointer(v + offset(l, 0) + element * type.bytes) }

    /// The stored keys of layer l at pos, as floats (tests and tools).
    public func keyFloats(_ l: Int, _ pos: Int) -> [Float] { floats(k + offset(l, pos)) }
    public func valueFloats(_ l: Int, _ pos: Int) -> [Float] { floats(v + offset(l, pos)) }

    private func floats(_ p: UnsafeMutableRawPointer) -> [Float] {
        var out = [Float](repeating: 0, count: kvDim)
        switch type {
        case .f32: out.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: p.assumingMemoryBound(to: Float.self), count: kvDim) }
        case .f16: out.withUnsafeMutableBufferPointer { btk_f16_to_f32(p.assumingMemoryBound(to: UInt16.self), $0.baseAddress!, kvDim) }
        }
        return out
    }
}

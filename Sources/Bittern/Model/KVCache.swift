/// Keys and values of every layer for up to nCtx positions. This first version stores F32 (4 bytes per
/// value); the default is F16 storage, left for later.
public final class KVCache: @unchecked Sendable {
    public let nCtx: Int
    public let layers: Int
    /// Floats per position per layer (n_head_kv * head_dim).
    public let kvDim: Int
    private let k: UnsafeMutablePointer<Float>
    private let v: UnsafeMutablePointer<Float>
    private let count: Int

    public init(layers: Int, nCtx: Int, kvDim: Int) throws {
        guard layers >= 1, nCtx >= 1, kvDim >= 1 else {
            throw BitternError.invalidArgument("KV cache: layers \(layers), n_ctx \(nCtx), kv dim \(kvDim) must all be >= 1")
        }
        let (a, o1) = layers.multipliedReportingOverflow(by: nCtx)
        let (n, o2) = a.multipliedReportingOverflow(by: kvDim)
        guard !o1, !o2, n <= Int.max / 16 else {
            throw BitternError.outOfMemory("KV cache of \(layers) x \(nCtx) x \(kvDim) floats is too large")
        }
        self.nCtx = nCtx
        self.layers = layers
        self.kvDim = kvDim
        count = n
        k = .allocate(capacity: n)
        v = .allocate(capacity: n)
        k.initialize(repeating: 0, count: n)
        v.initialize(repeating: 0, count: n)
    }

    deinit {
        k.deallocate()
        v.deallocate()
    }

    /// Bytes held (keys and values).
    public var bytes: Int { 2 * count * MemoryLayout<Float>.size }

    /// The kvDim keys of layer l at position pos (positions of a layer are contiguous).
    @inline(__always) public func keys(_ l: Int, _ pos: Int) -> UnsafeMutablePointer<Float> { k + (l * nCtx + pos) * kvDim }
    @inline(__always) public func values(_ l: Int, _ pos: Int) -> UnsafeMutablePointer<Float> { v + (l * nCtx + pos) * kvDim }
}

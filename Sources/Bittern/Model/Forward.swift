#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BitternKernels

/// One sequence being decoded with a shared BitNetModel: its KV cache, position and last logits.
/// Used by one thread at a time.
///
/// A decode call runs its tokens in batches of up to `maxBatch`: each projection is one GEMM over the
/// batch (the int8 quantization of every row is the same as for a single token, and the integer products
/// are exact, so a batch computes bit for bit what token-by-token decoding computes); attention then runs
/// per (token, KV head) over the causal prefix. The float steps between the products (RMSNorm, activations,
/// residuals, attention, head) are C kernels; over a batch, and for attention over heads, they run on the
/// runtime's workers too, so prefill is not left waiting on one core between its parallel GEMMs.
public final class ModelContext: @unchecked Sendable {
    public let model: BitNetModel
    public let cache: KVCache
    public let nCtx: Int
    /// Keep the logits of every token of a decode call (else only the last).
    public let logitsAll: Bool
    /// Tokens in the KV cache.
    public var position: Int { tokens.count }
    /// The tokens in the KV cache, in order (so a new prompt can reuse a common prefix).
    public private(set) var tokens: [Int32] = []
    /// Asked between tokens during decode; returning true stops the decode (BITTERN_E_ABORTED) and leaves
    /// the context as it was before that call.
    public var shouldAbort: (() -> Bool)?
    /// Logits of the last decode call: n x vocab with logitsAll, else 1 x vocab (the last token).
    public private(set) var logits: [Float] = []
    public private(set) var logitsCount = 0

    /// Tokens per forward batch (bounds the scratch: maxBatch x n_ff floats and int32s).
    public static let maxBatch = 128

    // Scratch for a batch of up to `capacity` tokens, rows of the model's dimensions. Raw buffers, not
    // arrays: workers write disjoint rows of them at once, which Swift's exclusivity rules forbid for a
    // class's array properties.
    private var capacity = 0
    private var h = Buffer<Float>(), x = Buffer<Float>(), q = Buffer<Float>(), att = Buffer<Float>()
    private var proj = Buffer<Float>(), k = Buffer<Float>(), v = Buffer<Float>()
    private var gate = Buffer<Float>(), up = Buffer<Float>(), acc = Buffer<Int32>()
    /// cos, sin of the RoPE angle of each pair, for positions 0..<ropeFilled (filled as positions are reached).
    private var ropeTable: [Float] = []
    private var ropeFilled = 0

    /// nCtx 0: the model's context length.
    public init(model: BitNetModel, nCtx: Int = 0, logitsAll: Bool = false, kvType: KVType = .f16) throws {
        let hp = model.hparams
        guard nCtx >= 0 else { throw BitternError.invalidArgument("n_ctx must be >= 0 (got \(nCtx))") }
        let n = nCtx == 0 ? hp.contextLength : nCtx
        self.model = model
        self.nCtx = n
        self.logitsAll = logitsAll
        cache = try KVCache(layers: hp.blockCount, nCtx: n, kvDim: hp.kvDim, type: kvType)
        reserve(1)
    }

    deinit { freeScratch() }

    private func freeScratch() {
        for b in [h, x, q, att, proj, k, v, gate, up] { b.free() }
        acc.free()
    }

    /// Grows the batch scratch to n tokens.
    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        let hp = model.hparams
        let e = hp.embeddingLength, f = hp.feedForwardLength, kvd = hp.kvDim
        // Nothing in the scratch outlives a forward() call, so it is replaced, not copied.
        freeScratch()
        h = Buffer(n * e); x = Buffer(n * e); q = Buffer(n * e); att = Buffer(n * e); proj = Buffer(n * e)
        k = Buffer(n * kvd); v = Buffer(n * kvd)
        gate = Buffer(n * f); up = Buffer(n * f)
        acc = Buffer(n * max(e + 2 * kvd, 2 * f)) // q, k and v (or gate and up) side by side
        capacity = n
    }

    /// Forgets every token.
    public func reset() {
        tokens.removeAll(keepingCapacity: true)
        logits = []
        logitsCount = 0
    }

    /// Drops the cached tokens at positions >= pos.
    public func truncate(to pos: Int) throws {
        guard pos >= 0, pos <= position else {
            throw BitternError.invalidArgument("cannot truncate to position \(pos): the context holds \(position) tokens")
        }
        tokens.removeSubrange(pos...)
        logits = []
        logitsCount = 0
    }

    /// Logits (vocab floats) of token i of the last decode call; i = -1 is the last one. Other tokens
    /// than the last only with logitsAll.
    public func logits(at i: Int) throws -> ArraySlice<Float> {
        let vocab = model.hparams.vocabSize
        guard logitsCount > 0 else { throw BitternError.invalidArgument("no logits: nothing decoded yet") }
        let row: Int
        if logitsAll {
            let n = logitsCount
            guard i == -1 || (i >= 0 && i < n) else {
                throw BitternError.invalidArgument("token \(i) is not in the last decode call (\(n) tokens)")
            }
            row = i == -1 ? n - 1 : i
        } else {
            guard i == -1 || i == lastBatch - 1 else {
                throw BitternError.invalidArgument("logits of token \(i) were not kept (logitsAll is off)")
            }
            row = 0
        }
        return logits[(row * vocab)..<((row + 1) * vocab)]
    }
    private var lastBatch = 0

    /// Appends tokens at the current position and returns the logits of the last one. A batch that would
    /// pass n_ctx is a context-full error and leaves the context unchanged; so does a token out of range.
    @discardableResult
    public func decode(tokens: [Int32]) throws -> [Float] {
        let hp = model.hparams
        guard !tokens.isEmpty else { throw BitternError.invalidArgument("decode needs at least one token") }
        guard tokens.count <= nCtx - position else {
            throw BitternError(Status.contextFull,
                               "context full: \(position) tokens + \(tokens.count) new > n_ctx \(nCtx)")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= hp.vocabSize {
            throw BitternError.invalidArgument("token \(i) = \(t) is outside the vocabulary [0, \(hp.vocabSize))")
        }
        let vocab = hp.vocabSize
        var out = [Float](repeating: 0, count: (logitsAll ? tokens.count : 1) * vocab)
        let start = position
        var i = 0
        while i < tokens.count {
            if let abort = shouldAbort, abort() {
                self.tokens.removeSubrange(start...)
                throw BitternError(Status.aborted, "decode aborted by the abort callback after \(i) of \(tokens.count) tokens; the context is as before the call")
            }
            // Batches of maxBatch, and of one token when an abort callback wants to be asked per token.
            let n = shouldAbort == nil ? min(Self.maxBatch, tokens.count - i) : 1
            let batch = tokens[i..<(i + n)]
            do {
                try forward(batch, pos0: position)
            } catch {
                self.tokens.removeSubrange(start...)
                throw error
            }
            self.tokens.append(contentsOf: batch)
            let e = hp.embeddingLength
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<n where logitsAll || i + r == tokens.count - 1 {
                    let row = logitsAll ? i + r : 0
                    head(row: r, embd: e, into: o.baseAddress! + row * vocab)
                }
            }
            i += n
        }
        logits = out
        logitsCount = logitsAll ? tokens.count : 1
        lastBatch = tokens.count
        return Array(logits[((logitsCount - 1) * vocab)...])
    }

    // MARK: - a batch of tokens

    /// Runs tokens at positions pos0..<pos0+n through every layer, leaving each token's final hidden
    /// state in h (row r) and its keys and values in the cache.
    private func forward(_ tokens: ArraySlice<Int32>, pos0: Int) throws {
        let n = tokens.count
        let e = model.hparams.embeddingLength
        reserve(n)
        for (r, t) in tokens.enumerated() { model.embedding.row(Int(t), into: h.p + r * e) }
        for l in model.layers.indices { try layer(l, n: n, pos0: pos0) }
    }

    /// Test hook (layer-by-layer comparison with a reference): runs only layer l on n rows of hidden
    /// states at positions 0..<n (writing that layer's keys and values in the cache) and returns its output.
    func runLayer(_ l: Int, input: [Float], n: Int) throws -> [Float] {
        let e = model.hparams.embeddingLength
        guard l >= 0, l < model.layers.count, n >= 1, n <= nCtx, input.count == n * e else {
            throw BitternError.invalidArgument("runLayer: layer \(l), \(n) rows of \(input.count / max(n, 1)) values")
        }
        reserve(n)
        for i in 0..<(n * e) { h.p[i] = input[i] }
        try layer(l, n: n, pos0: 0)
        return Array(UnsafeBufferPointer(start: h.p, count: n * e))
    }

    /// One transformer block on the n rows of h (positions pos0...), in place.
    private func layer(_ l: Int, n: Int, pos0: Int) throws {
        let hp = model.hparams
        let L = model.layers[l]
        let e = hp.embeddingLength, ffn = hp.feedForwardLength, kvd = hp.kvDim
        let eps = hp.rmsEpsilon
        let (h, x, q, k, v, att, proj, gate, up) = (h.p, x.p, q.p, k.p, v.p, att.p, proj.p, gate.p, up.p)
        // attention
        let xa = try normQuantize(h, L.attnNorm, eps, n: n, dim: e, into: x)
        defer { xa.deallocate() }
        try bitLinear([(L.q, q), (L.k, k), (L.v, v)], xa)
        fillRope(through: pos0 + n - 1)
        ropeTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            forRows(n) { r in
                let pos = pos0 + r
                rope(q + r * e, heads: hp.headCount, pos: pos, table: t)
                rope(k + r * kvd, heads: hp.headCountKV, pos: pos, table: t)
                cache.store(layer: l, pos: pos, keys: k + r * kvd, values: v + r * kvd)
            }
        }
        attention(layer: l, n: n, pos0: pos0)
        // Llama-style files have no sub-norms: the attention output is quantized as it is.
        let aa = try L.attnSubNorm.map { try normQuantize(att, $0, eps, n: n, dim: e, into: x) }
            ?? quantize(att, n: n, dim: e)
        defer { aa.deallocate() }
        try bitLinear([(L.o, proj)], aa)
        forRows(n) { r in btk_add_f32(h + r * e, proj + r * e, e) }

        // feed-forward
        let xf = try normQuantize(h, L.ffnNorm, eps, n: n, dim: e, into: x)
        defer { xf.deallocate() }
        try bitLinear([(L.gate, gate), (L.up, up)], xf)
        let relu2 = hp.activation == .relu2
        // Per row: the gated activation, the sub-norm when there is one, the quantization, one after the
        // other while the row is in the worker's cache.
        let fd = try withOptionalFloats(L.ffnSubNorm) { subNorm in
            try QuantizedActivations(rows: subNorm == nil ? gate : up, n: n, cols: ffn, runtime: model.runtime) { r in
                let (g, u) = (gate + r * ffn, up + r * ffn)
                if relu2 { btk_relu2_mul(g, u, ffn) } else { btk_silu_mul(g, u, ffn) }
                if let subNorm { btk_rms_norm(g, subNorm, ffn, eps, u) }
            }
        }
        defer { fd.deallocate() }
        try bitLinear([(L.down, proj)], fd)
        forRows(n) { r in btk_add_f32(h + r * e, proj + r * e, e) }
    }

    /// logits = head . (rmsnorm(h row) * output_norm)
    private func head(row r: Int, embd e: Int, into out: UnsafeMutablePointer<Float>) {
        let hp = model.hparams
        model.outputNorm.withUnsafeBufferPointer { btk_rms_norm(h.p + r * e, $0.baseAddress!, e, hp.rmsEpsilon, x.p) }
        // Rows of the head split over the runtime's workers (it is the largest read of a token), balanced
        // as they go: runs of at least 512 rows.
        let vocab = hp.vocabSize
        let outAddr = Int(bitPattern: out)
        let yp = UnsafePointer(x.p)
        let input = model.head.prepare(yp)
        model.runtime.pool.balancedFor(vocab, grain: 64, minRun: 8) { b, end in
            model.head.compute(yp, input, rows: b..<end, into: UnsafeMutablePointer<Float>(bitPattern: outAddr)! + b)
        }
    }

    // MARK: - helpers

    /// body(r) for rows 0..<n, over the runtime's workers when there is more than one row.
    private func forRows(_ n: Int, _ body: (Int) -> Void) {
        model.runtime.parallelFor(n) { b, e in for r in b..<e { body(r) } }
    }

    /// out = rmsnorm(x) * w per row, then quantized (absmax per row); each row normed and quantized by
    /// the same worker while it is in its cache.
    private func normQuantize(_ x: UnsafeMutablePointer<Float>, _ w: [Float], _ eps: Float, n: Int, dim: Int,
                              into out: UnsafeMutablePointer<Float>) throws -> QuantizedActivations {
        try w.withUnsafeBufferPointer { wb in
            let wp = wb.baseAddress!
            return try QuantizedActivations(rows: out, n: n, cols: dim, runtime: model.runtime) { r in
                btk_rms_norm(x + r * dim, wp, dim, eps, out + r * dim)
            }
        }
    }

    /// body(pointer to w's values, or nil when w is nil).
    private func withOptionalFloats<R>(_ w: [Float]?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        guard let w else { return try body(nil) }
        return try w.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Per-token int8 quantization of n rows (absmax, API.md), shared by every matrix that reads them.
    private func quantize(_ x: UnsafeMutablePointer<Float>, n: Int, dim: Int) throws -> QuantizedActivations {
        try QuantizedActivations(floats: x, n: n, cols: dim, runtime: model.runtime)
    }

    /// out = (T . q) * (alpha / s) [* .scale] per token for each (projection, out) reading the same
    /// activations: the exact int32 products (one GEMM over the batch per matrix), each row rescaled by
    /// the worker that computed it; all matrices in one job for the workers.
    private func bitLinear(_ projections: [(Projection, UnsafeMutablePointer<Float>)], _ a: QuantizedActivations) throws {
        let n = a.n
        let factors = UnsafeMutablePointer<Float>.allocate(capacity: projections.count * n)
        defer { factors.deallocate() }
        var products: [TernaryMatrix.Product] = []
        var offset = 0
        for (i, (p, out)) in projections.enumerated() {
            let f = factors + i * n
            for k in 0..<n { f[k] = p.matrix.alpha / a.scales[k] }
            products.append(TernaryMatrix.Product(p.matrix, a, acc.p + offset, rescaled: (out, UnsafePointer(f), p.outputScale)))
            offset += n * p.rows
        }
        try TernaryMatrix.multiply(products)
    }

    /// Fills the table of cos/sin of every (position, pair) up to position pos (q and k of every layer
    /// share it), angle pos * base^(-2i/ropeDims) computed in Double. Before the rows run in parallel.
    private func fillRope(through pos: Int) {
        let hp = model.hparams
        let half = hp.ropeDims / 2
        let base = Double(hp.ropeFreqBase)
        while ropeFilled <= pos {
            for i in 0..<half {
                let angle = Double(ropeFilled) * pow(base, -2.0 * Double(i) / Double(hp.ropeDims))
                ropeTable.append(Float(cos(angle)))
                ropeTable.append(Float(sin(angle)))
            }
            ropeFilled += 1
        }
    }

    /// RoPE on `heads` heads of head_dim at v with the table row of `pos` (fillRope first): pair i of the
    /// first ropeDims dimensions is (i, i + ropeDims/2) in NeoX style (2B4T, `bitnet`), (2i, 2i + 1) in
    /// the normal style of llama.cpp's `llama` files.
    private func rope(_ v: UnsafeMutablePointer<Float>, heads: Int, pos: Int, table: UnsafePointer<Float>) {
        let hp = model.hparams
        let half = hp.ropeDims / 2, hd = hp.headDim
        let row = table + pos * half * 2
        let (stride, offset) = hp.ropeNeoX ? (1, half) : (2, 1)
        for i in 0..<half {
            let c = row[2 * i], s = row[2 * i + 1]
            for hh in 0..<heads {
                let p = v + hh * hd + i * stride
                let x0 = p[0], x1 = p[offset]
                p[0] = x0 * c - x1 * s
                p[offset] = x0 * s + x1 * c
            }
        }
    }

    /// Causal GQA attention of the batch's n tokens (positions pos0...) over their prefixes into att,
    /// one (token, KV head) pair per unit of work: the query heads of a group read that KV head's cache
    /// rows once. Split over the workers when the units read enough of the cache to repay the hand-off:
    /// a batch, or one token past ~25 positions (decode's cache rows come from DRAM, the weights streamed
    /// since the last token having evicted them; from 2048 positions down to 128 this gained ~3% of
    /// 2-thread decode, A/B over alternating segments).
    private func attention(layer l: Int, n: Int, pos0: Int) {
        let hp = model.hparams
        let kvHeads = hp.headCountKV, hd = hp.headDim, group = hp.headCount / hp.headCountKV, e = hp.embeddingLength
        let scale = Float(1 / Double(hd).squareRoot())
        let f16: Int32 = cache.type == .f16 ? 1 : 0
        let (q, att, cache) = (q.p, att.p, cache)
        let positions = n * (pos0 + (n + 1) / 2) * kvHeads
        let parts = positions >= 128 ? model.runtime.threads : 1
        model.runtime.pool.parallelFor(n * kvHeads, parts: parts) { b, end in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: group * (pos0 + n))
            defer { scores.deallocate() }
            for unit in b..<end {
                // Tokens in folded order (0, n-1, 1, n-2, ...): token r's prefix grows with r, so contiguous
                // ranges of units get equal work.
                let i = unit / kvHeads, g = unit % kvHeads
                let r = i % 2 == 0 ? i / 2 : n - 1 - i / 2
                let offset = r * e + g * group * hd
                btk_attend(cache.keys(layer: l, element: g * hd), cache.values(layer: l, element: g * hd), f16,
                           cache.kvDim, pos0 + r + 1, q + offset, group, hd, scale, scores, att + offset)
            }
        }
    }
}

extension BitNetModel {
    /// A new context (KV cache of nCtx positions; 0: the model's context length).
    public func makeContext(nCtx: Int = 0, logitsAll: Bool = false, kvType: KVType = .f16) throws -> ModelContext {
        try ModelContext(model: self, nCtx: nCtx, logitsAll: logitsAll, kvType: kvType)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BitternKernels

/// One sequence being decoded with a shared BitNetModel: its KV cache, position and last logits.
/// Used by one thread at a time.
///
/// First version, plainly: tokens are processed one at a time (a prefill of n tokens is n GEMVs, not
/// the GEMM kernels), the KV cache is F32, and the float parts (RMSNorm, RoPE, softmax, attention,
/// head) are plain Swift; DESIGN.md wants those float kernels in C (BitternKernels) later.
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

    // Scratch, one token.
    private var h: [Float], x: [Float], q: [Float], kv: [Float], att: [Float], proj: [Float]
    private var gate: [Float], up: [Float], scores: [Float]
    private var acc: [Int32]

    /// nCtx 0: the model's context length.
    public init(model: BitNetModel, nCtx: Int = 0, logitsAll: Bool = false) throws {
        let hp = model.hparams
        guard nCtx >= 0 else { throw BitternError.invalidArgument("n_ctx must be >= 0 (got \(nCtx))") }
        let n = nCtx == 0 ? hp.contextLength : nCtx
        self.model = model
        self.nCtx = n
        self.logitsAll = logitsAll
        cache = try KVCache(layers: hp.blockCount, nCtx: n, kvDim: hp.kvDim)
        let e = hp.embeddingLength, f = hp.feedForwardLength
        h = [Float](repeating: 0, count: e)
        x = h; q = h; att = h; proj = h
        kv = [Float](repeating: 0, count: hp.kvDim)
        gate = [Float](repeating: 0, count: f)
        up = gate
        scores = [Float](repeating: 0, count: n)
        acc = [Int32](repeating: 0, count: max(e, f))
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
        for (i, t) in tokens.enumerated() {
            if let abort = shouldAbort, abort() {
                self.tokens.removeSubrange(start...)
                throw BitternError(Status.aborted, "decode aborted by the abort callback after \(i) of \(tokens.count) tokens; the context is as before the call")
            }
            try step(token: Int(t), pos: position)
            self.tokens.append(t)
            if logitsAll || i == tokens.count - 1 {
                let row = logitsAll ? i : 0
                out.withUnsafeMutableBufferPointer { o in head(into: o.baseAddress! + row * vocab) }
            }
        }
        logits = out
        logitsCount = logitsAll ? tokens.count : 1
        lastBatch = tokens.count
        return Array(logits[((logitsCount - 1) * vocab)...])
    }

    // MARK: - one token

    private func step(token: Int, pos: Int) throws {
        let hp = model.hparams
        let e = hp.embeddingLength, ffn = hp.feedForwardLength, kvd = hp.kvDim
        let eps = hp.rmsEpsilon
        model.embedding.withUnsafeBufferPointer { emb in
            h.withUnsafeMutableBufferPointer { hb in
                hb.baseAddress!.update(from: emb.baseAddress! + token * e, count: e)
            }
        }
        for (l, L) in model.layers.enumerated() {
            // attention
            rmsNorm(h, L.attnNorm, eps, into: &x)
            let xa = try quantize(x)
            defer { xa.deallocate() }
            try bitLinear(L.q, xa, into: &q)
            try bitLinear(L.k, xa, into: &kv)
            let kp = cache.keys(l, pos), vp = cache.values(l, pos)
            kv.withUnsafeBufferPointer { kp.update(from: $0.baseAddress!, count: kvd) }
            try bitLinear(L.v, xa, into: &kv)
            kv.withUnsafeBufferPointer { vp.update(from: $0.baseAddress!, count: kvd) }
            q.withUnsafeMutableBufferPointer { rope($0.baseAddress!, heads: hp.headCount, pos: pos) }
            rope(kp, heads: hp.headCountKV, pos: pos)
            attention(layer: l, pos: pos)
            rmsNorm(att, L.attnSubNorm, eps, into: &x)
            let aa = try quantize(x)
            defer { aa.deallocate() }
            try bitLinear(L.o, aa, into: &proj)
            for i in 0..<e { h[i] += proj[i] }

            // feed-forward
            rmsNorm(h, L.ffnNorm, eps, into: &x)
            let xf = try quantize(x)
            defer { xf.deallocate() }
            try bitLinear(L.gate, xf, into: &gate)
            try bitLinear(L.up, xf, into: &up)
            switch hp.activation {
            case .relu2:
                for i in 0..<ffn {
                    let g = max(gate[i], 0)
                    gate[i] = (g * g) * up[i]
                }
            case .silu:
                for i in 0..<ffn {
                    let g = gate[i]
                    gate[i] = (g / (1 + expf(-g))) * up[i]
                }
            }
            rmsNorm(gate, L.ffnSubNorm, eps, into: &up)
            let fd = try quantize(up)
            defer { fd.deallocate() }
            try bitLinear(L.down, fd, into: &proj)
            for i in 0..<e { h[i] += proj[i] }
        }
    }

    /// logits = head . (rmsnorm(h) * output_norm)
    private func head(into out: UnsafeMutablePointer<Float>) {
        let hp = model.hparams
        let e = hp.embeddingLength
        rmsNorm(h, model.outputNorm, hp.rmsEpsilon, into: &x)
        model.head.withUnsafeBufferPointer { w in
            x.withUnsafeBufferPointer { y in
                for r in 0..<hp.vocabSize { out[r] = dot(w.baseAddress! + r * e, y.baseAddress!, e) }
            }
        }
    }

    // MARK: - float helpers (plain Swift for now; C kernels later)

    /// out = x / sqrt(mean(x^2) + eps) * w (sum of squares accumulated in Double).
    private func rmsNorm(_ x: [Float], _ w: [Float], _ eps: Float, into out: inout [Float]) {
        let n = x.count
        var ss: Double = 0
        for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
        let inv = 1 / (Float(ss / Double(n)) + eps).squareRoot()
        for i in 0..<n { out[i] = (x[i] * inv) * w[i] }
    }

    /// Per-token int8 quantization of one row (absmax, API.md), shared by every matrix that reads it.
    private func quantize(_ x: [Float]) throws -> QuantizedActivations {
        try x.withUnsafeBufferPointer { try QuantizedActivations(floats: $0.baseAddress!, n: 1, cols: x.count) }
    }

    /// out = (T . q) * (alpha / s) [* .scale]: the exact int32 product, then one float rescale.
    private func bitLinear(_ p: Projection, _ a: QuantizedActivations, into out: inout [Float]) throws {
        let rows = p.rows
        try acc.withUnsafeMutableBufferPointer { try p.matrix.multiply(a, into: $0.baseAddress!) }
        acc.withUnsafeBufferPointer { ab in
            out.withUnsafeMutableBufferPointer { ob in
                btk_scale_row_i32(ab.baseAddress!, rows, p.matrix.alpha / a.scales[0], ob.baseAddress!)
            }
        }
        if p.outputScale != 1 { for i in 0..<rows { out[i] *= p.outputScale } }
    }

    /// NeoX RoPE on `heads` heads of head_dim at v: pairs (i, i + ropeDims/2) of the first ropeDims
    /// dimensions, angle pos * base^(-2i/ropeDims) (computed in Double).
    private func rope(_ v: UnsafeMutablePointer<Float>, heads: Int, pos: Int) {
        let hp = model.hparams
        let half = hp.ropeDims / 2, hd = hp.headDim
        let base = Double(hp.ropeFreqBase)
        for i in 0..<half {
            let angle = Double(pos) * pow(base, -2.0 * Double(i) / Double(hp.ropeDims))
            let c = Float(cos(angle)), s = Float(sin(angle))
            for hh in 0..<heads {
                let p = v + hh * hd
                let x0 = p[i], x1 = p[i + half]
                p[i] = x0 * c - x1 * s
                p[i + half] = x0 * s + x1 * c
            }
        }
    }

    /// Causal GQA attention of the current token (position pos) over positions 0...pos into att.
    private func attention(layer l: Int, pos: Int) {
        let hp = model.hparams
        let hd = hp.headDim, group = hp.headCount / hp.headCountKV
        let scale = Float(1 / Double(hd).squareRoot())
        q.withUnsafeBufferPointer { qb in
            att.withUnsafeMutableBufferPointer { ob in
                scores.withUnsafeMutableBufferPointer { sb in
                    let s = sb.baseAddress!
                    for hh in 0..<hp.headCount {
                        let g = hh / group
                        let qh = qb.baseAddress! + hh * hd
                        var m = -Float.infinity
                        for t in 0...pos {
                            let v = dot(cache.keys(l, t) + g * hd, qh, hd) * scale
                            s[t] = v
                            m = max(m, v)
                        }
                        var sum: Float = 0
                        for t in 0...pos {
                            s[t] = expf(s[t] - m)
                            sum += s[t]
                        }
                        let o = ob.baseAddress! + hh * hd
                        o.update(repeating: 0, count: hd)
                        for t in 0...pos {
                            let p = s[t] / sum
                            let vt = cache.values(l, t) + g * hd
                            for d in 0..<hd { o[d] += p * vt[d] }
                        }
                    }
                }
            }
        }
    }
}

@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s: Float = 0
    for i in 0..<n { s += a[i] * b[i] }
    return s
}

extension BitNetModel {
    /// A new context (KV cache of nCtx positions; 0: the model's context length).
    public func makeContext(nCtx: Int = 0, logitsAll: Bool = false) throws -> ModelContext {
        try ModelContext(model: self, nCtx: nCtx, logitsAll: logitsAll)
    }
}

/// A ternary projection (BitLinear): packed trits, their scale alpha (inside the matrix) and an optional
/// extra output multiplier (llama.cpp's per-projection `.scale` tensor; 1 when absent).
public struct Projection: @unchecked Sendable {
    public let matrix: TernaryMatrix
    public let outputScale: Float
    /// Bytes and type of the tensor as stored in the file.
    public let fileType: GGMLType
    public var rows: Int { matrix.rows }
    public var cols: Int { matrix.cols }
}

/// The weights of one transformer block: the 2B4T architecture, or a Llama one (no sub-norms).
public struct BitNetLayer: @unchecked Sendable {
    public let attnNorm: [Float]
    public let q: Projection
    public let k: Projection
    public let v: Projection
    public let attnSubNorm: [Float]?
    public let o: Projection
    public let ffnNorm: [Float]
    public let gate: Projection
    public let up: Projection
    public let ffnSubNorm: [Float]?
    public let down: Projection
}

/// A BitNet b1.58 (2B4T family) model loaded from GGUF: ternary projections packed by the runtime's
/// backend, norms and embeddings as F32. Read-only after loading: any number of contexts may share it.
public final class BitNetModel: @unchecked Sendable {
    public let hparams: Hyperparameters
    public let runtime: Runtime
    public let path: String
    /// token_embd, vocab x embd row-major (F16 as stored, or decoded from F32/BF16/Q8_0 to F32).
    public let embedding: EmbeddingTable
    /// The head, vocab x embd: output.weight when present, else the tied token_embd, in the storage the
    /// load options chose.
    public let head: OutputHead
    public let headTied: Bool
    public let layers: [BitNetLayer]
    public let outputNorm: [Float]
    /// The file's tensor infos (name, dims, type), in file order.
    public let tensors: [GGUFTensorInfo]
    /// The tokenizer the file describes; nil when it has none.
    public let tokenizer: Tokenizer?
    /// `tokenizer.chat_template` (Jinja), when present.
    public let chatTemplate: String?

    /// Loads every tensor. Missing tensors, wrong shapes and unsupported types are format errors that name
    /// the tensor. The file's pages of each ternary tensor are released once it is packed.
    /// `progress`, when given, is called on the loading thread with fractions increasing from 0 to 1
    /// (0 once the header is read, after the embeddings and after each layer, 1 last, on success only).
    public init(path: String, runtime: Runtime, decodeOptions: TernaryDecodeOptions = TernaryDecodeOptions(),
                headType: HeadType = .default, progress: ((Float) -> Void)? = nil) throws {
        let f = try GGUFFile(path: path)
        let hp = try Hyperparameters(gguf: f)
        let tok = try Tokenizer.load(f)
        if let t = tok, t.count > hp.vocabSize {
            throw BitternError.format("\(path): the tokenizer has \(t.count) tokens, more than the model's vocabulary of \(hp.vocabSize)")
        }
        tokenizer = tok
        chatTemplate = try f.string("tokenizer.chat_template")
        progress?(0)
        self.path = path
        self.tensors = f.tensors
        self.hparams = hp
        self.runtime = runtime
        let (embd, ffn, kv, vocab) = (hp.embeddingLength, hp.feedForwardLength, hp.kvDim, hp.vocabSize)

        func checkDims(_ name: String, _ want: [Int]) throws -> GGUFTensorInfo {
            let t = try f.requireTensor(name)
            // Trailing 1s are allowed (e.g. {n, 1}).
            var dims = t.dims
            while dims.count > want.count, dims.last == 1 { dims.removeLast() }
            guard dims == want else {
                throw BitternError.format("\(path): tensor '\(name)' has dims \(t.dims), expected \(want)")
            }
            return t
        }
        func vector(_ name: String, _ n: Int) throws -> [Float] {
            _ = try checkDims(name, [n])
            return try f.floats(name)
        }
        func projection(_ name: String, rows: Int, cols: Int) throws -> Projection {
            let t = try checkDims(name, [cols, rows])  // ne0 = input dimension
            let c = try f.ternary(name, options: decodeOptions)
            let m = try c.trits.withUnsafeBufferPointer { b in
                try TernaryMatrix(runtime: runtime, trits: b.baseAddress!, rows: rows, cols: cols, alpha: c.alpha)
            }
            f.releasePages(of: t)
            var scale: Float = 1
            let scaleName = name.hasSuffix(".weight") ? String(name.dropLast(7)) + ".scale" : name + ".scale"
            if f.tensor(named: scaleName) != nil {
                let s = try f.floats(scaleName)
                guard s.count == 1, s[0].isFinite else {
                    throw BitternError.format("\(path): tensor '\(scaleName)' must hold one finite value (got \(s.count) values)")
                }
                scale = s[0]
            }
            return Projection(matrix: m, outputScale: scale, fileType: t.type)
        }

        let embInfo = try checkDims("token_embd.weight", [embd, vocab])
        // Rows are decoded a chunk at a time and the chunk's file pages released at once, so the head is
        // never held twice (mapped file pages and its runtime copy) during the load.
        func rows(_ name: String) -> (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void {
            { range, out in
                try f.floatRows(name, rows: range, into: UnsafeMutableBufferPointer(start: out, count: range.count * embd))
                if let t = f.tensor(named: name) { f.releasePages(of: t, rows: range) }
            }
        }
        if f.tensor(named: "output.weight") != nil {
            let outInfo = try checkDims("output.weight", [embd, vocab])
            head = try OutputHead(rows: vocab, cols: embd, type: headType, fill: rows("output.weight"))
            f.releasePages(of: outInfo)
            headTied = false
            if embInfo.type == .f16 {
                let raw = try f.bytes(named: "token_embd.weight")
                var halves = [UInt16](repeating: 0, count: vocab * embd)
                halves.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(vocab * embd * 2)])) }
                embedding = EmbeddingTable(f16: halves, rows: vocab, cols: embd)
            } else {
                embedding = EmbeddingTable(f32: try f.floats("token_embd.weight"), rows: vocab, cols: embd)
            }
        } else {
            head = try OutputHead(rows: vocab, cols: embd, type: headType, fill: rows("token_embd.weight"))
            headTied = true
            embedding = EmbeddingTable(tiedTo: head)
        }
        f.releasePages(of: embInfo)
        // Embeddings and head: the first 5%; layers share the next 94%; output_norm and the rest, 1%.
        progress?(0.05)
        // Every block has at least 9 tensors (7 projections, 2 norms): a block_count the file cannot hold is
        // refused before anything is sized by it (found by fuzz_gguf: 2^24 blocks reserved 4 GB).
        guard hp.blockCount <= f.tensors.count / 9 else {
            throw BitternError.format("\(path): \(hp.architecture).block_count is \(hp.blockCount), but the file holds only \(f.tensors.count) tensors")
        }
        var layers = [BitNetLayer]()
        layers.reserveCapacity(hp.blockCount)
        for l in 0..<hp.blockCount {
            let p = "blk.\(l)."
            layers.append(BitNetLayer(
                attnNorm: try vector(p + "attn_norm.weight", embd),
                q: try projection(p + "attn_q.weight", rows: embd, cols: embd),
                k: try projection(p + "attn_k.weight", rows: kv, cols: embd),
                v: try projection(p + "attn_v.weight", rows: kv, cols: embd),
                attnSubNorm: hp.hasSubNorms ? try vector(p + "attn_sub_norm.weight", embd) : nil,
                o: try projection(p + "attn_output.weight", rows: embd, cols: embd),
                ffnNorm: try vector(p + "ffn_norm.weight", embd),
                gate: try projection(p + "ffn_gate.weight", rows: ffn, cols: embd),
                up: try projection(p + "ffn_up.weight", rows: ffn, cols: embd),
                ffnSubNorm: hp.hasSubNorms ? try vector(p + "ffn_sub_norm.weight", ffn) : nil,
                down: try projection(p + "ffn_down.weight", rows: embd, cols: ffn)))
            progress?(0.05 + 0.94 * Float(l + 1) / Float(hp.blockCount))
        }
        self.layers = layers
        outputNorm = try vector("output_norm.weight", embd)
        progress?(1)
    }

    /// Bytes of packed ternary weights.
    public var packedBytes: Int {
        layers.reduce(0) { acc, l in
            acc + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce(0) { $0 + $1.matrix.packedBytes }
        }
    }
}

/// Model hyperparameters read from GGUF metadata (`<arch>.embedding_length` etc., FORMATS.md "Models").
public struct Hyperparameters: Sendable, Equatable {
    /// The feed-forward gate activation.
    public enum Activation: String, Sendable {
        /// relu(x)^2: BitNet b1.58 2B4T.
        case relu2
        /// x * sigmoid(x).
        case silu
    }

    /// Architectures this version runs: the 2B4T family (ReLU^2-gated FFN, sub-norms, GQA, NeoX RoPE).
    /// "bitnet-b1.58" and "bitnet-25": Microsoft's names for 2B4T (ReLU-squared). "bitnet": llama.cpp's
    /// name for the same graph (same tensors, NeoX RoPE), whose activation is SiLU unless
    /// `bitnet.hidden_activation` says otherwise. "llama" with ternary weights (Llama3-8B-1.58,
    /// Falcon3-1.58bit): no sub-norms, SwiGLU, normal (interleaved-pair) RoPE as llama.cpp's files have it.
    public static let supportedArchitectures = ["bitnet-b1.58", "bitnet-25", "bitnet", "llama"]

    public let architecture: String
    public let vocabSize: Int
    public let contextLength: Int
    public let embeddingLength: Int
    public let blockCount: Int
    public let feedForwardLength: Int
    public let headCount: Int
    public let headCountKV: Int
    public let headDim: Int
    /// Rotated dimensions per head (rope.dimension_count); equals headDim for 2B4T.
    public let ropeDims: Int
    public let ropeFreqBase: Float
    public let rmsEpsilon: Float
    public let activation: Activation
    /// attn_sub_norm and ffn_sub_norm exist (all but "llama").
    public var hasSubNorms: Bool { architecture != "llama" }
    /// RoPE pairs (i, i + d/2) rather than (2i, 2i + 1).
    public var ropeNeoX: Bool { architecture != "llama" }

    public init(architecture: String, vocabSize: Int, contextLength: Int, embeddingLength: Int, blockCount: Int,
                feedForwardLength: Int, headCount: Int, headCountKV: Int, ropeDims: Int, ropeFreqBase: Float,
                rmsEpsilon: Float, activation: Activation = .relu2) throws {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.embeddingLength = embeddingLength
        self.blockCount = blockCount
        self.feedForwardLength = feedForwardLength
        self.headCount = headCount
        self.headCountKV = headCountKV
        self.ropeDims = ropeDims
        self.ropeFreqBase = ropeFreqBase
        self.rmsEpsilon = rmsEpsilon
        self.activation = activation
        func bad(_ m: String) -> BitternError { .format("\(architecture): \(m)") }
        for (v, name) in [(vocabSize, "vocab_size"), (contextLength, "context_length"), (embeddingLength, "embedding_length"),
                          (blockCount, "block_count"), (feedForwardLength, "feed_forward_length"),
                          (headCount, "attention.head_count"), (headCountKV, "attention.head_count_kv")] {
            guard v >= 1, v <= 1 << 24 else { throw bad("\(architecture).\(name) = \(v) is out of range [1, 2^24]") }
        }
        guard embeddingLength % headCount == 0 else {
            throw bad("embedding_length \(embeddingLength) is not a multiple of attention.head_count \(headCount)")
        }
        headDim = embeddingLength / headCount
        guard headCount % headCountKV == 0 else {
            throw bad("attention.head_count \(headCount) is not a multiple of attention.head_count_kv \(headCountKV)")
        }
        guard ropeDims >= 2, ropeDims <= headDim, ropeDims % 2 == 0 else {
            throw bad("rope.dimension_count \(ropeDims) must be even and in [2, head_dim \(headDim)]")
        }
        guard ropeFreqBase.isFinite, ropeFreqBase > 0 else { throw bad("rope.freq_base \(ropeFreqBase) must be finite and > 0") }
        guard rmsEpsilon.isFinite, rmsEpsilon > 0 else {
            throw bad("attention.layer_norm_rms_epsilon \(rmsEpsilon) must be finite and > 0")
        }
    }

    /// Reads the hyperparameters of a 2B4T-family file. Unknown architectures and missing keys are format
    /// errors that name the architecture or key. `vocab_size` may be absent: then token_embd's row count.
    public init(gguf f: GGUFFile) throws {
        let arch = try f.require(f.string, "general.architecture")
        guard Hyperparameters.supportedArchitectures.contains(arch) else {
            throw BitternError.format(
                "\(f.path): unsupported architecture '\(arch)' (general.architecture); supported: \(Hyperparameters.supportedArchitectures.joined(separator: ", "))")
        }
        func int(_ k: String) throws -> Int { try f.require(f.int, "\(arch).\(k)") }
        func float(_ k: String) throws -> Float { try f.require(f.float, "\(arch).\(k)") }
        let embd = try int("embedding_length")
        let heads = try int("attention.head_count")
        var vocab = try f.int("\(arch).vocab_size")
        if vocab == nil, let e = f.tensor(named: "token_embd.weight"), e.dims.count == 2 { vocab = e.dims[1] }
        guard let vocab else { throw BitternError.format("\(f.path): missing metadata key '\(arch).vocab_size'") }
        let headDim = heads > 0 ? embd / heads : 0
        let ropeDims = try f.int("\(arch).rope.dimension_count") ?? headDim
        let theta = try f.float("\(arch).rope.freq_base") ?? 10000   // llama.cpp's default when absent
        var act = arch == "bitnet" || arch == "llama" ? Activation.silu : Activation.relu2
        if let a = try f.string("\(arch).hidden_activation") {
            guard let v = Activation(rawValue: a) else {
                throw BitternError.format("\(f.path): \(arch).hidden_activation = '\(a)' is not one of relu2, silu")
            }
            act = v
        }
        try self.init(architecture: arch, vocabSize: vocab, contextLength: try int("context_length"), embeddingLength: embd,
                      blockCount: try int("block_count"), feedForwardLength: try int("feed_forward_length"),
                      headCount: heads, headCountKV: try int("attention.head_count_kv"), ropeDims: ropeDims,
                      ropeFreqBase: theta, rmsEpsilon: try float("attention.layer_norm_rms_epsilon"),
                      activation: act)
    }

    public var kvDim: Int { headCountKV * headDim }
}

/// What Bittern reads from a Hugging Face `config.json`: the architecture, its dimensions and, for
/// BitNet checkpoints, how the ternary weights are stored (`quantization_config`).
public struct HFConfig: Sendable {
    /// The model families `bittern convert` knows, by their `architectures[0]`.
    public enum Family: String, Sendable {
        /// microsoft/bitnet-b1.58-2B-4T (transformers `BitNetForCausalLM`): sub-norms, ReLU^2 (hidden_act).
        case bitnet = "BitNetForCausalLM"
        /// 1bitLLM/bitnet_b1_58-* (their own `BitnetForCausalLM` code): sub-norms named inner_attn_ln and
        /// ffn_layernorm, SiLU, full-precision master weights.
        case bitnet1bitLLM = "BitnetForCausalLM"
        /// A Llama with ternary weights (Llama3-8B-1.58, Falcon3-*-1.58bit): no sub-norms, SwiGLU.
        case llama = "LlamaForCausalLM"
    }

    /// How a checkpoint stores its projections.
    public enum WeightStorage: Sendable, Equatable {
        /// Full-precision master weights: absmean-ternarized at conversion (what the model's forward does).
        case master
        /// transformers `BitLinear`: uint8, 4 trits per byte along the output dimension, and a
        /// `weight_scale` that the output is divided by (so alpha = 1 / weight_scale).
        case packedBitLinear
        /// transformers `AutoBitLinear` offline: ternary values (float or packed uint8) and a `weight_scale`
        /// the output is multiplied by (alpha = weight_scale).
        case autoBitLinearOffline
    }

    public let family: Family
    public let vocabSize: Int
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let layers: Int
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let contextLength: Int
    public let rmsEpsilon: Double
    public let ropeTheta: Double
    public let hiddenAct: String
    public let tiedEmbeddings: Bool
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let storage: WeightStorage

    public init(json: JSON, path: String) throws {
        func fail(_ m: String) -> BitternError { .format("\(path): \(m)") }
        guard let arch = json["architectures"]?.arrayValue?.first?.stringValue else {
            throw fail("no \"architectures\" entry: cannot tell which model this is")
        }
        guard let family = Family(rawValue: arch) else {
            throw BitternError.unsupported(
                "\(path): architecture '\(arch)' is not supported (supported: BitNetForCausalLM, BitnetForCausalLM, LlamaForCausalLM)")
        }
        self.family = family
        func int(_ k: String) throws -> Int {
            guard let v = json[k]?.intValue else { throw fail("missing or non-integer \"\(k)\"") }
            guard v >= 1, v <= 1 << 24 else { throw fail("\"\(k)\" = \(v) is out of range [1, 2^24]") }
            return v
        }
        vocabSize = try int("vocab_size")
        hiddenSize = try int("hidden_size")
        intermediateSize = try int("intermediate_size")
        layers = try int("num_hidden_layers")
        heads = try int("num_attention_heads")
        kvHeads = json["num_key_value_heads"]?.intValue ?? heads
        guard kvHeads >= 1, kvHeads <= heads, heads % kvHeads == 0 else {
            throw fail("num_key_value_heads \(kvHeads) must divide num_attention_heads \(heads)")
        }
        if let hd = json["head_dim"]?.intValue {
            guard hd >= 1, hiddenSize % heads == 0, hd == hiddenSize / heads else {
                throw BitternError.unsupported("\(path): head_dim \(hd) x \(heads) heads != hidden_size \(hiddenSize) (not supported)")
            }
        }
        guard hiddenSize % heads == 0 else { throw fail("hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(heads)") }
        headDim = hiddenSize / heads
        guard headDim % 2 == 0 else { throw fail("head dimension \(headDim) is odd: RoPE rotates pairs") }
        contextLength = json["max_position_embeddings"]?.intValue ?? 4096
        guard contextLength >= 1, contextLength <= 1 << 30 else {
            throw fail("max_position_embeddings \(contextLength) is out of range [1, 2^30]")
        }
        rmsEpsilon = json["rms_norm_eps"]?.doubleValue ?? 1e-5
        guard rmsEpsilon.isFinite, rmsEpsilon > 0, Float(rmsEpsilon) > 0 else { throw fail("rms_norm_eps \(rmsEpsilon) must be > 0") }
        let rope = json["rope_parameters"] ?? json["rope_scaling"]
        if let type = rope?["rope_type"]?.stringValue ?? rope?["type"]?.stringValue, type != "default" {
            throw BitternError.unsupported("\(path): rope_type '\(type)' is not supported (only plain RoPE)")
        }
        ropeTheta = json["rope_theta"]?.doubleValue ?? rope?["rope_theta"]?.doubleValue ?? (family == .bitnet ? 500000 : 10000)
        guard ropeTheta.isFinite, ropeTheta > 0, Float(ropeTheta).isFinite else { throw fail("rope_theta \(ropeTheta) must be finite and > 0") }
        hiddenAct = json["hidden_act"]?.stringValue ?? (family == .bitnet ? "relu2" : "silu")
        guard ["relu2", "silu"].contains(hiddenAct) else {
            throw BitternError.unsupported("\(path): hidden_act '\(hiddenAct)' is not supported (relu2, silu)")
        }
        tiedEmbeddings = json["tie_word_embeddings"]?.boolValue ?? false
        bosTokenId = json["bos_token_id"]?.intValue
        eosTokenId = json["eos_token_id"]?.intValue ?? json["eos_token_id"]?.arrayValue?.first?.intValue
        if let q = json["quantization_config"], !q.isNull {
            let method = q["quant_method"]?.stringValue ?? ""
            guard method == "bitnet" else {
                throw BitternError.unsupported("\(path): quantization_config.quant_method '\(method)' is not supported (only 'bitnet')")
            }
            let linear = q["linear_class"]?.stringValue ?? "bitlinear"
            let mode = q["quantization_mode"]?.stringValue ?? "offline"
            switch (linear, mode) {
            case ("bitlinear", _): storage = .packedBitLinear
            case ("autobitlinear", "offline"): storage = .autoBitLinearOffline
            case ("autobitlinear", "online"): storage = .master
            default:
                throw BitternError.unsupported("\(path): quantization_config linear_class '\(linear)', quantization_mode '\(mode)' is not supported")
            }
        } else {
            storage = .master
        }
    }
}

/// Options of `bittern convert`.
public struct ConvertOptions: Sendable {
    /// Type of the ternary projections: I2_S, TQ1_0, TQ2_0 (or F16/F32 ternary-valued, exact but large).
    public var weightType: GGMLType = .i2_s
    /// Type of the token embedding and head: F16, Q8_0 or F32.
    public var headType: GGMLType = .f16
    /// Absmean threshold for master weights (FORMATS.md; 0.5 is round-to-nearest).
    public var zeroThreshold: Float = Quantizer.defaultZeroThreshold
    /// `general.architecture` to write; nil chooses: "bitnet" (llama.cpp's name) for TQ types,
    /// "bitnet-b1.58" (bitnet.cpp's) otherwise, "llama" for Llama checkpoints.
    public var architecture: String?
    public init() {}
}

/// What a conversion wrote, for the report.
public struct ConvertReport: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        public let type: GGMLType
        public let elements: Int
        public let bytes: Int
        /// For ternary tensors: zero fraction and whether the source already held ternary values.
        public let zeroFraction: Double?
        public let exact: Bool?
    }
    public var architecture = ""
    public var tensors: [Tensor] = []
    public var tokenizerTokens = 0
}

/// Converts a Hugging Face checkpoint directory (config.json, safetensors weights, tokenizer.json) to GGUF.
public enum HFConverter {
    public static func convert(directory dir: String, output: String, options: ConvertOptions = ConvertOptions(),
                               progress: ((Int, Int) -> Void)? = nil) throws -> ConvertReport {
        let configPath = dir + "/config.json"
        guard fileExists(configPath) else { throw BitternError.io("\(dir): no config.json (not a Hugging Face model directory?)") }
        let configJSON = try readJSON(configPath)
        let cfg = try HFConfig(json: configJSON, path: configPath)
        if let q = configJSON["quantization_config"], q["use_rms_norm"]?.boolValue == true {
            throw BitternError.unsupported("\(configPath): quantization_config.use_rms_norm (a norm inside each BitLinear) is not supported")
        }
        guard TensorEncoders.weightTypes.contains(options.weightType) else {
            throw BitternError.invalidArgument("weight type \(options.weightType.name) is not a ternary type (i2_s, tq1_0, tq2_0, f16, f32)")
        }
        guard TensorEncoders.headTypes.contains(options.headType) else {
            throw BitternError.invalidArgument("head type \(options.headType.name) is not one of f16, q8_0, f32")
        }
        // The weights first: the embedding's bytes justify vocab_size, which bounds what the tokenizer
        // import may allocate (an id in tokenizer.json could otherwise ask for 2^24 entries).
        let weights = try SafetensorsCheckpoint(directory: dir)
        let emb = try weights.require("model.embed_tokens.weight")
        guard emb.shape == [cfg.vocabSize, cfg.hiddenSize] else {
            throw BitternError.format("\(dir): model.embed_tokens.weight has shape \(emb.shape), config.json says [\(cfg.vocabSize), \(cfg.hiddenSize)]")
        }
        let tok = try HFTokenizerImport.load(directory: dir, config: cfg)
        let isTQ = [GGMLType.tq1_0, .tq2_0].contains(options.weightType)
        let arch = options.architecture ?? (cfg.family == .llama ? "llama" : (isTQ ? "bitnet" : "bitnet-b1.58"))
        let subNorms = cfg.family != .llama
        guard Hyperparameters.supportedArchitectures.contains(arch), (arch == "llama") == !subNorms else {
            throw BitternError.invalidArgument("--arch \(arch) does not fit a \(cfg.family.rawValue) checkpoint")
        }

        let w = GGUFWriter(path: output)
        w.set("general.architecture", .string(arch))
        w.set("general.name", .string(lastPathComponent(dir)))
        w.set("general.file_type", .uint32(fileType(options.weightType)))
        w.set("general.quantization_version", .uint32(2))
        func key(_ k: String, _ v: GGUFValue) { w.set("\(arch).\(k)", v) }
        key("vocab_size", .uint32(UInt32(cfg.vocabSize)))
        key("context_length", .uint32(UInt32(cfg.contextLength)))
        key("embedding_length", .uint32(UInt32(cfg.hiddenSize)))
        key("block_count", .uint32(UInt32(cfg.layers)))
        key("feed_forward_length", .uint32(UInt32(cfg.intermediateSize)))
        key("attention.head_count", .uint32(UInt32(cfg.heads)))
        key("attention.head_count_kv", .uint32(UInt32(cfg.kvHeads)))
        key("rope.dimension_count", .uint32(UInt32(cfg.headDim)))
        key("rope.freq_base", .float32(Float(cfg.ropeTheta)))
        key("attention.layer_norm_rms_epsilon", .float32(Float(cfg.rmsEpsilon)))
        if arch != "llama" { key("hidden_activation", .string(cfg.hiddenAct)) }
        for (k, v) in tok.metadata { w.set(k, v) }

        var report = ConvertReport()
        report.architecture = arch
        report.tokenizerTokens = tok.tokenCount
        let names = TensorNames(family: cfg.family)
        let (e, ffn, kv) = (cfg.hiddenSize, cfg.intermediateSize, cfg.kvHeads * cfg.headDim)

        func floatTensor(_ gguf: String, _ hf: String, _ n: Int, type: GGMLType, rows: Int = 1) throws {
            let t = try weights.require(hf)
            let want = rows == 1 ? [n] : [rows, n]
            guard t.shape == want else {
                throw BitternError.format("\(dir): tensor '\(hf)' has shape \(t.shape), expected \(want)")
            }
            if type.blockSize > 1, n % type.blockSize != 0 {
                throw BitternError.unsupported("tensor '\(hf)': \(type.name) needs rows of a multiple of \(type.blockSize) values, these have \(n)")
            }
            let dims = rows == 1 ? [n] : [n, rows]
            try w.addTensor(gguf, dims: dims, type: type) {
                let b = try TensorEncoders.encodeFloats(try weights.floats(hf), cols: n, as: type, name: hf)
                weights.releasePages(of: hf)
                return b
            }
            report.tensors.append(.init(name: gguf, type: type, elements: n * rows, bytes: try type.byteSize(dims: dims, tensor: gguf),
                                        zeroFraction: nil, exact: nil))
        }
        func ternaryTensor(_ gguf: String, _ hf: String, rows: Int, cols: Int, permuteHeads: Int? = nil) throws {
            if let why = TensorEncoders.ternaryUnsupportedReason(options.weightType, cols: cols) {
                throw BitternError.unsupported("tensor '\(hf)': \(why); choose another --type")
            }
            let index = report.tensors.count
            report.tensors.append(.init(name: gguf, type: options.weightType, elements: rows * cols,
                                        bytes: try options.weightType.byteSize(dims: [cols, rows], tensor: gguf), zeroFraction: nil, exact: nil))
            _ = try weights.require(hf)
            try w.addTensor(gguf, dims: [cols, rows], type: options.weightType) {
                var c = try readTernary(weights, hf, rows: rows, cols: cols, storage: cfg.storage, options: options)
                if let h = permuteHeads { c.trits = permuteForNormalRoPE(c.trits, heads: h, rows: rows, cols: cols) }
                weights.releasePages(of: hf)
                let old = report.tensors[index]
                report.tensors[index] = .init(name: old.name, type: old.type, elements: old.elements, bytes: old.bytes,
                                              zeroFraction: Double(c.zeroCount) / Double(rows * cols), exact: c.exact)
                return try TensorEncoders.encodeTernary(c, as: options.weightType, name: hf)
            }
        }

        try floatTensor("token_embd.weight", "model.embed_tokens.weight", e, type: options.headType, rows: cfg.vocabSize)
        for l in 0..<cfg.layers {
            let p = "model.layers.\(l).", g = "blk.\(l)."
            try floatTensor(g + "attn_norm.weight", p + "input_layernorm.weight", e, type: .f32)
            let llama = !subNorms
            try ternaryTensor(g + "attn_q.weight", p + "self_attn.q_proj.weight", rows: e, cols: e, permuteHeads: llama ? cfg.heads : nil)
            try ternaryTensor(g + "attn_k.weight", p + "self_attn.k_proj.weight", rows: kv, cols: e, permuteHeads: llama ? cfg.kvHeads : nil)
            try ternaryTensor(g + "attn_v.weight", p + "self_attn.v_proj.weight", rows: kv, cols: e)
            if subNorms { try floatTensor(g + "attn_sub_norm.weight", p + names.attnSubNorm, e, type: .f32) }
            try ternaryTensor(g + "attn_output.weight", p + "self_attn.o_proj.weight", rows: e, cols: e)
            try floatTensor(g + "ffn_norm.weight", p + "post_attention_layernorm.weight", e, type: .f32)
            try ternaryTensor(g + "ffn_gate.weight", p + "mlp.gate_proj.weight", rows: ffn, cols: e)
            try ternaryTensor(g + "ffn_up.weight", p + "mlp.up_proj.weight", rows: ffn, cols: e)
            if subNorms { try floatTensor(g + "ffn_sub_norm.weight", p + names.ffnSubNorm, ffn, type: .f32) }
            try ternaryTensor(g + "ffn_down.weight", p + "mlp.down_proj.weight", rows: e, cols: ffn)
        }
        try floatTensor("output_norm.weight", "model.norm.weight", e, type: .f32)
        if !cfg.tiedEmbeddings, weights.tensor(named: "lm_head.weight") != nil {
            guard arch != "bitnet" else {
                throw BitternError.unsupported("\(dir): an untied lm_head cannot be written as llama.cpp's 'bitnet' (it only reads a tied head); use --arch bitnet-b1.58")
            }
            try floatTensor("output.weight", "lm_head.weight", e, type: options.headType, rows: cfg.vocabSize)
        }
        try w.write(progress: progress)
        return report
    }

    /// Tensor names that differ between the families (the rest are Llama's).
    struct TensorNames {
        let attnSubNorm: String
        let ffnSubNorm: String
        init(family: HFConfig.Family) {
            switch family {
            case .bitnet1bitLLM: (attnSubNorm, ffnSubNorm) = ("self_attn.inner_attn_ln.weight", "mlp.ffn_layernorm.weight")
            default: (attnSubNorm, ffnSubNorm) = ("self_attn.attn_sub_norm.weight", "mlp.ffn_sub_norm.weight")
            }
        }
    }

    static func fileType(_ t: GGMLType) -> UInt32 {
        // llama_ftype: F32 0, F16 1, TQ1_0 36, TQ2_0 37; bitnet.cpp: I2_S 40.
        switch t.id {
        case GGMLType.f32.id: return 0
        case GGMLType.f16.id: return 1
        case GGMLType.tq1_0.id: return 36
        case GGMLType.tq2_0.id: return 37
        default: return 40
        }
    }

    /// One projection as canonical trits, from whichever storage the checkpoint uses.
    static func readTernary(_ w: SafetensorsCheckpoint, _ name: String, rows: Int, cols: Int,
                            storage: HFConfig.WeightStorage, options: ConvertOptions) throws -> CanonicalTernary {
        let t = try w.require(name)
        let bytes = try w.bytes(of: name)
        func scale() throws -> Float {
            let sName = String(name.dropLast("weight".count)) + "weight_scale"
            let s = try w.floats(sName)
            guard s.count == 1, s[0].isFinite, s[0] > 0 else {
                throw BitternError.format("\(w.directory): '\(sName)' must hold one finite positive value")
            }
            return s[0]
        }
        if t.dtype == .u8 {
            guard storage != .master else {
                throw BitternError.format("\(w.directory): '\(name)' is packed uint8 but config.json has no bitnet quantization_config")
            }
            guard t.shape == [rows / 4, cols], rows % 4 == 0 else {
                throw BitternError.format("\(w.directory): packed '\(name)' has shape \(t.shape), expected [\(rows / 4), \(cols)]")
            }
            let s = try scale()
            let alpha = storage == .packedBitLinear ? 1 / s : s
            guard alpha.isFinite else {
                throw BitternError.format("\(w.directory): the weight_scale of '\(name)' (\(s)) has no finite reciprocal")
            }
            return try unpackTransformers(bytes, name: name, rows: rows, cols: cols, alpha: alpha)
        }
        guard t.shape == [rows, cols] else {
            throw BitternError.format("\(w.directory): '\(name)' has shape \(t.shape), expected [\(rows), \(cols)]")
        }
        let type: GGMLType
        switch t.dtype {
        case .f32: type = .f32
        case .f16: type = .f16
        case .bf16: type = .bf16
        default: throw BitternError.format("\(w.directory): '\(name)' is \(t.dtype.rawValue), expected BF16, F16, F32 or packed U8")
        }
        var decode = TernaryDecodeOptions()
        decode.zeroThreshold = options.zeroThreshold
        var c = try TensorCodecs.decodeTernary(name: name, type: type, dims: [cols, rows], bytes: bytes, options: decode)
        if storage == .autoBitLinearOffline {
            // Offline AutoBitLinear stores the trits themselves (values -1, 0, 1) and scales the output.
            guard c.exact, c.alpha == 1 || c.zeroCount == rows * cols else {
                throw BitternError.format("\(w.directory): '\(name)' should hold the values -1, 0, 1 (offline AutoBitLinear)")
            }
            c.alpha = try scale()
        }
        return c
    }

    /// transformers' pack_weights layout: packed row i, bits 2k..2k+1 hold row k*R + i (R = rows / 4) as code + 1.
    static func unpackTransformers(_ b: UnsafeRawBufferPointer, name: String, rows: Int, cols: Int, alpha: Float) throws -> CanonicalTernary {
        let r = rows / 4
        var trits = [Int8](repeating: 0, count: rows * cols)
        var zeros = 0
        for i in 0..<r {
            for j in 0..<cols {
                let byte = b[i * cols + j]
                for k in 0..<4 {
                    let c = (byte >> UInt8(2 * k)) & 3
                    guard c != 3 else { throw BitternError.format("'\(name)': byte \(i * cols + j) holds the invalid code 3") }
                    let v = Int8(c) - 1
                    trits[(k * r + i) * cols + j] = v
                    if v == 0 { zeros += 1 }
                }
            }
        }
        return CanonicalTernary(rows: rows, cols: cols, trits: trits, alpha: alpha, zeroCount: zeros, exact: true)
    }

    /// Hugging Face Llama q/k rows are ordered for rotate-half RoPE (pairs i, i + d/2); llama.cpp's `llama`
    /// files use interleaved pairs (2i, 2i+1). Row h*d + 2i + e of the output is row h*d + e*d/2 + i of the input.
    static func permuteForNormalRoPE(_ t: [Int8], heads: Int, rows: Int, cols: Int) -> [Int8] {
        let d = rows / heads, half = d / 2
        var out = [Int8](repeating: 0, count: t.count)
        for h in 0..<heads {
            for i in 0..<half {
                for e in 0..<2 {
                    let dst = (h * d + 2 * i + e) * cols, src = (h * d + e * half + i) * cols
                    for j in 0..<cols { out[dst + j] = t[src + j] }
                }
            }
        }
        return out
    }

    static func lastPathComponent(_ p: String) -> String {
        let trimmed = p.hasSuffix("/") ? String(p.dropLast()) : p
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }
}

/// Turns a Hugging Face tokenizer (`tokenizer.json` or `tokenizer.model`, `tokenizer_config.json`) into the
/// standard GGUF `tokenizer.ggml.*` keys that llama.cpp-family readers (and Bittern's Tokenizer) understand:
/// byte-level BPE (2B4T, Llama-3, Falcon3, GPT-2 style vocabularies, the pre-tokenizer recognised from its
/// regex) or SentencePiece (Llama-2 style, 1bitLLM); other tokenizer kinds are a clear error.
public enum HFTokenizerImport {
    /// The Llama-3 and GPT-2 split patterns as tokenizer.json writes them.
    static let llama3Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    public struct Result {
        public var metadata: [(String, GGUFValue)]
        public var tokenCount: Int
    }

    /// Reads the tokenizer of DIR: tokenizer.json with byte-level BPE, or a SentencePiece tokenizer.model
    /// (Llama-2 style; added tokens then come from tokenizer.json or added_tokens.json), and
    /// tokenizer_config.json (optional: BOS/EOS, add_bos/add_eos, chat template). `config` supplies bos/eos
    /// ids when the tokenizer files do not name them; its vocab_size bounds the ids (checked before anything
    /// is allocated for them) and the token list is padded to it.
    public static func load(directory dir: String, config: HFConfig) throws -> Result {
        let jsonPath = dir + "/tokenizer.json", spmPath = dir + "/tokenizer.model"
        let json = fileExists(jsonPath) ? try readJSON(jsonPath) : nil
        let byteLevel = json.map { containsByteLevel($0["pre_tokenizer"]) || containsByteLevel($0["decoder"]) } ?? false
        var vocab: Vocabulary
        if !byteLevel, fileExists(spmPath) {
            vocab = try sentencePiece(spmPath, addedFrom: json, directory: dir, config: config)
        } else if let json {
            guard byteLevel else {
                throw BitternError.unsupported("\(jsonPath): not a byte-level BPE tokenizer, and there is no SentencePiece tokenizer.model beside it")
            }
            vocab = try byteLevelBPE(json, path: jsonPath, config: config)
        } else {
            throw BitternError.io("\(dir): no tokenizer.json or tokenizer.model (a converted model needs its tokenizer)")
        }
        let n = vocab.tokens.count
        // Padded to the model's vocab_size, as llama.cpp's converter does: readers take the vocabulary size
        // from the token list and expect it to match the embedding.
        for i in n..<config.vocabSize {
            vocab.tokens.append("[PAD\(i)]")
            vocab.types.append(TokenType.unused.rawValue)
            vocab.scores?.append(-1000)
        }
        var meta = vocab.metadata
        meta.append(("tokenizer.ggml.tokens", .array(.string(vocab.tokens))))
        meta.append(("tokenizer.ggml.token_type", .array(.int32(vocab.types))))
        if let scores = vocab.scores { meta.append(("tokenizer.ggml.scores", .array(.float32(scores)))) }

        let ids = Dictionary(vocab.tokens.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let tc = fileExists(dir + "/tokenizer_config.json") ? try readJSON(dir + "/tokenizer_config.json") : JSON.object([])
        func special(_ key: String) -> Int? {
            let v = tc[key]
            guard let s = v?.stringValue ?? v?["content"]?.stringValue else { return nil }
            return ids[s]
        }
        func id(_ key: String, _ v: Int?) {
            if let v, (0..<n).contains(v) { meta.append((key, .uint32(UInt32(v)))) }
        }
        id("tokenizer.ggml.bos_token_id", special("bos_token") ?? vocab.bos ?? config.bosTokenId)
        id("tokenizer.ggml.eos_token_id", special("eos_token") ?? vocab.eos ?? config.eosTokenId)
        id("tokenizer.ggml.unknown_token_id", special("unk_token") ?? vocab.unk)
        id("tokenizer.ggml.eot_token_id", ids["<|eot_id|>"] ?? ids["<|im_end|>"])
        id("tokenizer.ggml.padding_token_id", special("pad_token"))
        meta.append(("tokenizer.ggml.add_bos_token", .bool(tc["add_bos_token"]?.boolValue ?? vocab.addBOS)))
        if let e = tc["add_eos_token"]?.boolValue { meta.append(("tokenizer.ggml.add_eos_token", .bool(e))) }
        if let t = tc["chat_template"]?.stringValue {
            meta.append(("tokenizer.chat_template", .string(t)))
        } else if let list = tc["chat_template"]?.arrayValue,
                  let t = list.first(where: { $0["name"]?.stringValue == "default" })?["template"]?.stringValue {
            meta.append(("tokenizer.chat_template", .string(t)))
        } else if fileExists(dir + "/chat_template.jinja"), fileSize(dir + "/chat_template.jinja") > 0 {
            let m = try Mapping(path: dir + "/chat_template.jinja", kind: "Jinja")
            meta.append(("tokenizer.chat_template", .string(String(decoding: m.bytes, as: UTF8.self))))
        }
        return Result(metadata: meta, tokenCount: vocab.tokens.count)
    }

    /// One vocabulary, before the keys every kind shares.
    struct Vocabulary {
        var tokens: [String] = []
        var types: [Int32] = []
        var scores: [Float]?
        /// Kind-specific keys (model, pre-tokenizer, merges, space prefix).
        var metadata: [(String, GGUFValue)] = []
        var bos: Int?, eos: Int?, unk: Int?
        var addBOS = false
    }

    /// Byte-level BPE from tokenizer.json: vocab and added tokens (ids dense from 0), merges, pre-tokenizer.
    static func byteLevelBPE(_ json: JSON, path: String, config: HFConfig) throws -> Vocabulary {
        func fail(_ m: String) -> BitternError { .format("\(path): \(m)") }
        guard let model = json["model"], model["type"]?.stringValue == "BPE" else {
            throw BitternError.unsupported("\(path): model type '\(json["model"]?["type"]?.stringValue ?? "?")' is not supported (byte-level BPE, or a SentencePiece tokenizer.model)")
        }
        let pre = try preTokenizerName(json["pre_tokenizer"], path: path)
        var byId: [Int: String] = [:]
        guard let entries = model["vocab"]?.objectValue else { throw fail("model.vocab is not an object") }
        for (tok, v) in entries {
            guard let id = v.intValue, id >= 0, id < 1 << 24 else { throw fail("vocab entry '\(tok)' has a bad id") }
            guard byId[id] == nil else { throw fail("id \(id) is given to two tokens") }
            byId[id] = tok
        }
        var types: [Int: Int32] = [:]
        for (id, content, special) in try addedTokens(json["added_tokens"], path: path) {
            if let old = byId[id], old != content { throw fail("added token \(id) '\(content)' clashes with vocab token '\(old)'") }
            byId[id] = content
            types[id] = special ? TokenType.control.rawValue : TokenType.userDefined.rawValue
        }
        let n = (byId.keys.max() ?? -1) + 1
        guard n > 0 else { throw fail("the vocabulary is empty") }
        guard n <= config.vocabSize else { throw fail("token id \(n - 1) is past the model's vocab_size \(config.vocabSize)") }
        var v = Vocabulary()
        v.tokens = (0..<n).map { byId[$0] ?? "[PAD\($0)]" }   // llama.cpp's filler for holes in the id space
        v.types = (0..<n).map { byId[$0] == nil ? TokenType.unused.rawValue : (types[$0] ?? TokenType.normal.rawValue) }
        var merges: [String] = []
        for m in model["merges"]?.arrayValue ?? [] {
            if let s = m.stringValue {
                merges.append(s)
            } else if let pair = m.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                merges.append(a + " " + b)
            } else {
                throw fail("model.merges holds an entry that is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        v.metadata = [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)),
                      ("tokenizer.ggml.merges", .array(.string(merges)))]
        v.addBOS = postProcessorAddsBOS(json["post_processor"])
        return v
    }

    /// A SentencePiece model, with the added tokens of tokenizer.json (or added_tokens.json) past its pieces.
    static func sentencePiece(_ path: String, addedFrom json: JSON?, directory dir: String, config: HFConfig) throws -> Vocabulary {
        let sp = try SentencePieceImport.load(path: path)
        guard sp.pieces.count <= config.vocabSize else {
            throw BitternError.format("\(path): \(sp.pieces.count) pieces, more than the model's vocab_size \(config.vocabSize)")
        }
        var v = Vocabulary()
        v.tokens = sp.pieces
        v.types = sp.types
        v.scores = sp.scores
        var added: [(Int, String, Bool)] = try addedTokens(json?["added_tokens"], path: dir + "/tokenizer.json")
        if json == nil, fileExists(dir + "/added_tokens.json") {
            added = try (readJSON(dir + "/added_tokens.json").objectValue ?? []).map { content, id in
                guard let i = id.intValue, i >= 0 else { throw BitternError.format("\(dir)/added_tokens.json: '\(content)' has a bad id") }
                return (i, content, true)
            }
        }
        for (id, content, special) in added.sorted(by: { $0.0 < $1.0 }) where id >= v.tokens.count {
            guard id < config.vocabSize else {
                throw BitternError.format("\(dir): added token \(id) '\(content)' is past the model's vocab_size \(config.vocabSize)")
            }
            while v.tokens.count < id {
                v.tokens.append("[PAD\(v.tokens.count)]")
                v.types.append(TokenType.unused.rawValue)
                v.scores?.append(-1000)
            }
            v.tokens.append(content)
            v.types.append(special ? TokenType.control.rawValue : TokenType.userDefined.rawValue)
            v.scores?.append(0)
        }
        v.metadata = [("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.add_space_prefix", .bool(sp.addDummyPrefix))]
        v.bos = sp.bos
        v.eos = sp.eos
        v.unk = sp.unk
        v.addBOS = true
        return v
    }

    /// (id, content, special) of tokenizer.json's added_tokens.
    static func addedTokens(_ j: JSON?, path: String) throws -> [(Int, String, Bool)] {
        try (j?.arrayValue ?? []).map { a in
            guard let id = a["id"]?.intValue, id >= 0, id < 1 << 24, let content = a["content"]?.stringValue else {
                throw BitternError.format("\(path): an added_tokens entry lacks id or content")
            }
            return (id, content, a["special"]?.boolValue ?? false)
        }
    }

    static func containsByteLevel(_ j: JSON?) -> Bool {
        guard let j else { return false }
        if j["type"]?.stringValue == "ByteLevel" { return true }
        for key in ["pretokenizers", "decoders"] {
            if let list = j[key]?.arrayValue, list.contains(where: { containsByteLevel($0) }) { return true }
        }
        return false
    }

    /// llama.cpp's name for the pre-tokenizer: the Split regex of a Sequence, or ByteLevel's own (GPT-2) regex.
    static func preTokenizerName(_ j: JSON?, path: String) throws -> String {
        guard let j else { throw BitternError.unsupported("\(path): no pre_tokenizer") }
        var patterns: [String] = []
        var byteLevelRegex = false
        func walk(_ p: JSON) {
            switch p["type"]?.stringValue {
            case "Sequence": (p["pretokenizers"]?.arrayValue ?? []).forEach(walk)
            case "Split": if let r = p["pattern"]?["Regex"]?.stringValue { patterns.append(r) }
            case "ByteLevel": if p["use_regex"]?.boolValue ?? true { byteLevelRegex = true }
            default: break
            }
        }
        walk(j)
        if patterns == [llama3Pattern] && !byteLevelRegex { return "llama-bpe" }
        if (patterns.isEmpty && byteLevelRegex) || (patterns == [gpt2Pattern] && !byteLevelRegex) { return "gpt-2" }
        throw BitternError.unsupported(
            "\(path): pre-tokenizer \(patterns.isEmpty ? "without a split regex" : "regex \(patterns)") is not supported (known: Llama-3, GPT-2)")
    }

    /// True when the post-processor's single-sequence template starts with a special token (Llama-3's BOS).
    static func postProcessorAddsBOS(_ j: JSON?) -> Bool {
        guard let j else { return false }
        if j["type"]?.stringValue == "Sequence" {
            return (j["processors"]?.arrayValue ?? []).contains { postProcessorAddsBOS($0) }
        }
        guard j["type"]?.stringValue == "TemplateProcessing", let first = j["single"]?.arrayValue?.first else { return false }
        return first["SpecialToken"] != nil
    }
}

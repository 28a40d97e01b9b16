/// Turns a Hugging Face tokenizer (`tokenizer.json`, `tokenizer_config.json`) into the standard GGUF
/// `tokenizer.ggml.*` keys that llama.cpp-family readers (and Bittern's Tokenizer) understand.
/// Byte-level BPE only (2B4T, Llama-3, Falcon3, GPT-2 style vocabularies), with the pre-tokenizer
/// recognised from its regex; other tokenizer kinds are a clear error.
public enum HFTokenizerImport {
    /// The Llama-3 and GPT-2 split patterns as tokenizer.json writes them.
    static let llama3Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    public struct Result {
        public var metadata: [(String, GGUFValue)]
        public var tokenCount: Int
        public var pre: String
    }

    /// Reads DIR/tokenizer.json (required) and DIR/tokenizer_config.json (optional: BOS/EOS, add_bos,
    /// chat template). `config` supplies bos/eos ids when the tokenizer files do not name them, and its
    /// vocab_size bounds the ids (checked before anything is allocated for them).
    public static func load(directory dir: String, config: HFConfig) throws -> Result {
        let path = dir + "/tokenizer.json"
        guard fileExists(path) else {
            throw BitternError.io("\(dir): no tokenizer.json (a converted model needs its tokenizer)")
        }
        let json = try readJSON(path)
        func fail(_ m: String) -> BitternError { .format("\(path): \(m)") }
        guard let model = json["model"], model["type"]?.stringValue == "BPE" else {
            throw BitternError.unsupported("\(path): model type '\(json["model"]?["type"]?.stringValue ?? "?")' is not supported (only byte-level BPE)")
        }
        guard containsByteLevel(json["pre_tokenizer"]) || containsByteLevel(json["decoder"]) else {
            throw BitternError.unsupported("\(path): a BPE tokenizer without ByteLevel (SentencePiece style) is not supported")
        }
        let pre = try preTokenizerName(json["pre_tokenizer"], path: path)

        // Vocabulary: ids must be dense from 0; added tokens may extend it.
        var byId: [Int: String] = [:]
        guard let vocab = model["vocab"]?.objectValue else { throw fail("model.vocab is not an object") }
        for (tok, v) in vocab {
            guard let id = v.intValue, id >= 0, id < 1 << 24 else { throw fail("vocab entry '\(tok)' has a bad id") }
            guard byId[id] == nil else { throw fail("id \(id) is given to two tokens") }
            byId[id] = tok
        }
        var types: [Int: Int32] = [:]
        for a in json["added_tokens"]?.arrayValue ?? [] {
            guard let id = a["id"]?.intValue, id >= 0, id < 1 << 24, let content = a["content"]?.stringValue else {
                throw fail("an added_tokens entry lacks id or content")
            }
            if let old = byId[id], old != content { throw fail("added token \(id) '\(content)' clashes with vocab token '\(old)'") }
            byId[id] = content
            types[id] = (a["special"]?.boolValue ?? false) ? TokenType.control.rawValue : TokenType.userDefined.rawValue
        }
        let n = (byId.keys.max() ?? -1) + 1
        guard n > 0 else { throw fail("the vocabulary is empty") }
        guard n <= config.vocabSize else {
            throw fail("token id \(n - 1) is past the model's vocab_size \(config.vocabSize)")
        }
        // Padded to the model's vocab_size, as llama.cpp's converter does: readers take the vocabulary size
        // from the token list and expect it to match the embedding.
        let total = config.vocabSize
        var tokens = [String](repeating: "", count: total)
        var tokenTypes = [Int32](repeating: TokenType.normal.rawValue, count: total)
        for i in 0..<total {
            if let t = byId[i] {
                tokens[i] = t
                tokenTypes[i] = types[i] ?? TokenType.normal.rawValue
            } else {
                tokens[i] = "[PAD\(i)]"   // llama.cpp's filler for holes in the id space
                tokenTypes[i] = TokenType.unused.rawValue
            }
        }
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

        var meta: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string(tokens))),
            ("tokenizer.ggml.token_type", .array(.int32(tokenTypes))),
            ("tokenizer.ggml.merges", .array(.string(merges))),
        ]
        let ids = Dictionary(tokens.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let tc = fileExists(dir + "/tokenizer_config.json") ? try readJSON(dir + "/tokenizer_config.json") : JSON.object([])
        func special(_ key: String) -> Int? {
            let v = tc[key]
            guard let s = v?.stringValue ?? v?["content"]?.stringValue else { return nil }
            return ids[s]
        }
        if let bos = special("bos_token") ?? config.bosTokenId, (0..<n).contains(bos) { meta.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos = special("eos_token") ?? config.eosTokenId, (0..<n).contains(eos) { meta.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let eot = ids["<|eot_id|>"] ?? ids["<|im_end|>"] { meta.append(("tokenizer.ggml.eot_token_id", .uint32(UInt32(eot)))) }
        if let pad = special("pad_token") { meta.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        meta.append(("tokenizer.ggml.add_bos_token", .bool(tc["add_bos_token"]?.boolValue ?? postProcessorAddsBOS(json["post_processor"]))))
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
        return Result(metadata: meta, tokenCount: total, pre: pre)
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

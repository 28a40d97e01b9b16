/// Token types of GGUF's `tokenizer.ggml.token_type` (llama.cpp's numbering).
public enum TokenType: Int32, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// A tokenizer read from GGUF metadata: byte-level BPE ("gpt2": GPT-2, Llama-3, 2B4T) or SentencePiece-
/// style BPE with scores and byte fallback ("llama"). Immutable and safe to share between threads.
public final class Tokenizer: @unchecked Sendable {
    public enum Kind: Sendable { case byteLevelBPE(PreTokenizer), sentencePiece }

    public let kind: Kind
    /// Token strings as the file stores them.
    public let tokens: [String]
    public let types: [TokenType]
    /// The bytes each token renders to (special tokens: their text).
    let pieceBytes: [[UInt8]]
    public let bos: Int32?
    public let eos: Int32?
    public let eot: Int32?
    public let addBOS: Bool
    public let addEOS: Bool
    /// SentencePiece: a space is put before text that starts the input or follows a special token.
    public let addSpacePrefix: Bool
    /// Tokens that end generation: EOS, EOT, and control tokens named like end-of-turn markers.
    public let endOfGeneration: Set<Int32>

    private let bpe: BPEMerger?
    private let byteSymbol: [Int32]           // byte-level: id of each byte's one-character token
    private let wholeWords: [[UInt8]: Int32]  // byte-level with ignore_merges: words taken whole
    private let spm: SPMMerger?
    /// Special texts split out of the input: user-defined tokens always, control tokens when asked,
    /// indexed by first byte, longest first.
    private let specials: [[(bytes: [UInt8], id: Int32, control: Bool)]]

    public var count: Int { tokens.count }

    /// nil when the file has no tokenizer (`tokenizer.ggml.model` absent or "none").
    public static func load(_ f: GGUFFile) throws -> Tokenizer? {
        guard let model = try f.string("tokenizer.ggml.model"), model != "none", model != "no_vocab" else { return nil }
        return try Tokenizer(f, model: model)
    }

    init(_ f: GGUFFile, model: String) throws {
        func fail(_ m: String) -> BitternError { .format("\(f.path): \(m)") }
        guard let toks = try f.stringArray("tokenizer.ggml.tokens"), !toks.isEmpty else {
            throw fail("tokenizer '\(model)' has no tokenizer.ggml.tokens")
        }
        guard toks.count < Int(Int32.max) else { throw fail("tokenizer.ggml.tokens has too many entries") }
        let n = toks.count
        tokens = toks
        var types = [TokenType](repeating: .normal, count: n)
        if let raw = try f.intArray("tokenizer.ggml.token_type") {
            guard raw.count == n else { throw fail("tokenizer.ggml.token_type has \(raw.count) entries for \(n) tokens") }
            for (i, t) in raw.enumerated() { types[i] = TokenType(rawValue: Int32(clamping: t)) ?? .undefined }
        }
        self.types = types
        // An id outside the vocabulary means "none" (converters write 0xFFFFFFFF for it; llama.cpp ignores
        // such ids too).
        func tokenId(_ key: String) throws -> Int32? {
            guard let v = try? f.int(key) ?? nil else { return nil }
            return v >= 0 && v < n ? Int32(v) : nil
        }
        bos = try tokenId("tokenizer.ggml.bos_token_id")
        eos = try tokenId("tokenizer.ggml.eos_token_id")
        let unk = try tokenId("tokenizer.ggml.unknown_token_id")
        var eotId = try tokenId("tokenizer.ggml.eot_token_id")
        // Tokens are compared as bytes, never as Swift Strings: String equality is canonical equivalence
        // ("é" == "e\u{301}"), which would merge distinct tokens, and slow on non-ASCII text.
        let tokenBytes = toks.map { Array($0.utf8) }
        func index(of name: String) -> Int? {
            let b = Array(name.utf8)
            return tokenBytes.firstIndex { $0 == b }
        }
        if eotId == nil, let i = index(of: "<|eot_id|>") { eotId = Int32(i) }
        eot = eotId
        var ends = Set<Int32>([eos, eot].compactMap { $0 })
        for name in ["<|eot_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<end_of_turn>"] {
            if let i = index(of: name), types[i] == .control { ends.insert(Int32(i)) }
        }
        endOfGeneration = ends

        switch model {
        case "gpt2":
            let preName = try f.string("tokenizer.ggml.pre") ?? "default"
            let pre: PreTokenizer
            switch preName {
            case "default", "llama3", "llama-bpe", "llama-v3", "smaug-bpe", "falcon3", "bitnet": pre = .llama3
            case "gpt2", "gpt-2", "phi-2", "olmo", "starcoder", "refact": pre = .gpt2
            default: throw BitternError.unsupported("\(f.path): tokenizer.ggml.pre '\(preName)' is not supported (known: llama-bpe, llama3, gpt2 and their aliases)")
            }
            kind = .byteLevelBPE(pre)
            addBOS = try f.bool("tokenizer.ggml.add_bos_token") ?? true
            addSpacePrefix = false
        case "llama":
            kind = .sentencePiece
            addBOS = try f.bool("tokenizer.ggml.add_bos_token") ?? true
            addSpacePrefix = try f.bool("tokenizer.ggml.add_space_prefix") ?? true
        default:
            throw BitternError.unsupported("\(f.path): tokenizer model '\(model)' is not supported (known: gpt2, llama)")
        }
        addEOS = try f.bool("tokenizer.ggml.add_eos_token") ?? false

        // What each token renders to.
        var bytes = [[UInt8]]()
        bytes.reserveCapacity(n)
        for (i, t) in toks.enumerated() {
            switch (kind, types[i]) {
            case (_, .control), (_, .userDefined), (_, .unknown):
                bytes.append(Array(t.utf8))
            case (.byteLevelBPE, _):
                bytes.append(ByteLevel.decode(t) ?? Array(t.utf8))
            case (.sentencePiece, .byte):
                bytes.append(Self.byteTokenValue(t).map { [$0] } ?? Array(t.utf8))
            case (.sentencePiece, _):
                bytes.append(Self.unescapeSpaces(Array(t.utf8)))
            }
        }
        pieceBytes = bytes

        var byIndex = [[(bytes: [UInt8], id: Int32, control: Bool)]](repeating: [], count: 256)
        for i in 0..<n where types[i] == .control || types[i] == .userDefined {
            let b = tokenBytes[i]
            guard !b.isEmpty else { continue }
            byIndex[Int(b[0])].append((b, Int32(i), types[i] == .control))
        }
        for k in 0..<256 { byIndex[k].sort { $0.bytes.count > $1.bytes.count } }
        specials = byIndex

        switch kind {
        case .byteLevelBPE(let pre):
            var ids = [[UInt8]: Int32](minimumCapacity: n)
            for (i, t) in tokenBytes.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
            var sym = [Int32](repeating: -1, count: 256)
            for b in 0..<256 { sym[b] = ids[Array(String(ByteLevel.byteToScalar[b]).utf8)] ?? -1 }
            byteSymbol = sym
            let mergeStrings = try f.stringArray("tokenizer.ggml.merges") ?? []
            var merges = [UInt64: (rank: Int32, id: Int32)](minimumCapacity: mergeStrings.count)
            for (rank, m) in mergeStrings.enumerated() {
                let mb = Array(m.utf8)
                guard let space = mb.firstIndex(of: 0x20) else {
                    throw fail("tokenizer.ggml.merges[\(rank)] = '\(m)' is not 'left right'")
                }
                let l = Array(mb[..<space]), r = Array(mb[(space + 1)...])
                guard let a = ids[l], let b = ids[r], let c = ids[l + r] else { continue }   // as HF: unusable merges are skipped
                let key = BPEMerger.key(a, b)
                if merges[key] == nil { merges[key] = (Int32(rank), c) }
            }
            bpe = BPEMerger(merges: merges)
            // Llama-3's tokenizer.json sets ignore_merges: a word that is itself a token is taken whole.
            var whole = [[UInt8]: Int32]()
            if pre == .llama3 {
                whole.reserveCapacity(n)
                for i in 0..<n where types[i] == .normal { whole[bytes[i]] = whole[bytes[i]] ?? Int32(i) }
            }
            wholeWords = whole
            spm = nil
        case .sentencePiece:
            let scores = try f.floatArray("tokenizer.ggml.scores") ?? [Float](repeating: 0, count: n)
            guard scores.count == n else { throw fail("tokenizer.ggml.scores has \(scores.count) entries for \(n) tokens") }
            var pieces = [[UInt8]: Int32](minimumCapacity: n)
            var byteTokens = [Int32](repeating: -1, count: 256)
            for i in 0..<n {
                switch types[i] {
                case .normal, .userDefined, .undefined:
                    let key = tokenBytes[i]
                    if pieces[key] == nil { pieces[key] = Int32(i) }
                case .byte:
                    if let v = Self.byteTokenValue(toks[i]) { byteTokens[Int(v)] = Int32(i) }
                default: break
                }
            }
            spm = SPMMerger(pieces: pieces, scores: scores, byteTokens: byteTokens, unknown: unk)
            bpe = nil
            byteSymbol = []
            wholeWords = [:]
        }
    }

    /// SentencePiece pieces write a space as U+2581 (E2 96 81).
    static func unescapeSpaces(_ b: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if i + 2 < b.count && b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81 { out.append(0x20); i += 3 }
            else { out.append(b[i]); i += 1 }
        }
        return out
    }

    /// "<0x4A>" -> 0x4A
    static func byteTokenValue(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    // MARK: encode

    /// Token ids of `text` (any bytes). `addSpecial` adds BOS/EOS as the vocabulary asks; `parseSpecial`
    /// turns the text of control tokens (e.g. "<|eot_id|>") into those tokens. User-defined tokens are always
    /// recognised, as Hugging Face and llama.cpp do.
    public func encode(_ text: UnsafeBufferPointer<UInt8>, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        var out = [Int32]()
        out.reserveCapacity(text.count / 3 + 2)
        if addSpecial, addBOS, let b = bos { out.append(b) }
        var start = 0, i = 0, afterSpecial = true
        let n = text.count
        while i < n {
            if let s = special(at: i, in: text, parseSpecial: parseSpecial) {
                if start < i { encodeFragment(UnsafeBufferPointer(rebasing: text[start..<i]), first: afterSpecial, into: &out) }
                out.append(s.id)
                i += s.length
                start = i
                afterSpecial = true
                continue
            }
            i += 1
        }
        if start < n { encodeFragment(UnsafeBufferPointer(rebasing: text[start..<n]), first: afterSpecial, into: &out) }
        if addSpecial, addEOS, let e = eos { out.append(e) }
        return out
    }

    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var s = text
        return s.withUTF8 { encode($0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    private func special(at i: Int, in t: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> (id: Int32, length: Int)? {
        for s in specials[Int(t[i])] where parseSpecial || !s.control {
            let len = s.bytes.count
            guard i + len <= t.count else { continue }
            var k = 1
            while k < len && t[i + k] == s.bytes[k] { k += 1 }
            if k == len { return (s.id, len) }
        }
        return nil
    }

    private func encodeFragment(_ t: UnsafeBufferPointer<UInt8>, first: Bool, into out: inout [Int32]) {
        switch kind {
        case .byteLevelBPE(let pre):
            for r in pre.split(t) {
                let word = UnsafeBufferPointer(rebasing: t[r])
                if !wholeWords.isEmpty, let id = wholeWords[Array(word)] { out.append(id); continue }
                var symbols = [Int32]()
                symbols.reserveCapacity(word.count)
                for b in word where byteSymbol[Int(b)] >= 0 { symbols.append(byteSymbol[Int(b)]) }
                bpe!.merge(&symbols)
                out.append(contentsOf: symbols)
            }
        case .sentencePiece:
            // Escape spaces as U+2581 (E2 96 81), with a leading one where SentencePiece adds it.
            var escaped = [UInt8]()
            escaped.reserveCapacity(t.count + 3)
            if first && addSpacePrefix { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
            for b in t {
                if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
            }
            spm!.encode(escaped, into: &out)
        }
    }

    // MARK: decode

    public func isValid(_ token: Int32) -> Bool { token >= 0 && Int(token) < tokens.count }

    /// The bytes of one token: special tokens as their text, byte tokens as their byte.
    public func piece(_ token: Int32) -> [UInt8] { pieceBytes[Int(token)] }

    /// The text of a token sequence (bytes, possibly not valid UTF-8 if the tokens split a character).
    /// `skipSpecial` leaves out control tokens; SentencePiece's added leading space is removed.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> [UInt8] {
        var out = [UInt8]()
        var first = true
        for t in ids where isValid(t) {
            if skipSpecial && types[Int(t)] == .control { continue }
            var p = pieceBytes[Int(t)][...]
            if first, case .sentencePiece = kind, addSpacePrefix, types[Int(t)] != .control, p.first == 0x20 {
                p = p.dropFirst()
            }
            if types[Int(t)] != .control { first = false }
            out.append(contentsOf: p)
        }
        return out
    }
}

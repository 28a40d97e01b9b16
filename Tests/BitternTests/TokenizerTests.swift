import Testing
@testable import Bittern

/// Tokenizer fixtures of tools/reference/make_tokenizer_fixtures.py (Fixtures/tokenizer/README.md): ids made
/// by Hugging Face tokenizers (byte-level BPE) and sentencepiece (SPM BPE) for a corpus and a held-out set.
enum TokenizerFixtures {
    static func load(_ name: String) throws -> Tokenizer {
        let f = try GGUFFile(path: GGUFFixtures.path("tokenizer/\(name).gguf"))
        return try #require(try Tokenizer.load(f))
    }

    static func hex(_ s: Substring) -> [UInt8] {
        var out = [UInt8]()
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    /// (input bytes, expected ids or nil for "no reference") per data line; extra columns as strings.
    static func cases(_ file: String) -> [(bytes: [UInt8], columns: [[Int32]?])] {
        GGUFFixtures.text("tokenizer/\(file)").split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
            if line.hasPrefix("#") { return nil }
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count >= 2 else { return nil }
            return (hex(cols[0]), cols.dropFirst().map { c in
                c == "*" ? nil : c.split(separator: " ").map { Int32($0)! }
            })
        }
    }

    static func encode(_ t: Tokenizer, _ b: [UInt8], parseSpecial: Bool = false) -> [Int32] {
        b.withUnsafeBufferPointer { t.encode($0, addSpecial: false, parseSpecial: parseSpecial) }
    }
}

@Suite struct TokenizerTests {
    @Test(arguments: ["bpe_llama3", "bpe_gpt2", "spm_llama"], ["expected", "heldout.expected"])
    func matchesReference(name: String, set: String) throws {
        let tok = try TokenizerFixtures.load(name)
        let cases = TokenizerFixtures.cases("\(name).\(set).txt")
        #expect(cases.count >= 90)
        var mismatches = 0
        for (bytes, cols) in cases {
            let ids = TokenizerFixtures.encode(tok, bytes)
            if let want = cols[0] {
                if ids != want {
                    mismatches += 1
                    Issue.record("\(name) \(set): \(String(decoding: bytes, as: UTF8.self).debugDescription): got \(ids), want \(want)")
                }
            }
            // Round trip: byte-level vocabularies give back every byte string; SentencePiece every valid one.
            if case .byteLevelBPE = tok.kind {
                #expect(tok.decode(ids) == bytes, "round trip of \(bytes)")
            } else if cols[0] != nil {
                #expect(tok.decode(ids) == bytes, "round trip of \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            }
        }
        #expect(mismatches == 0)
    }

    @Test(arguments: ["bpe_llama3", "bpe_gpt2"])
    func specialTokens(name: String) throws {
        let tok = try TokenizerFixtures.load(name)
        let cases = TokenizerFixtures.cases("\(name).special.txt")
        #expect(cases.count >= 10)
        for (bytes, cols) in cases {
            #expect(TokenizerFixtures.encode(tok, bytes, parseSpecial: true) == cols[0]!, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(TokenizerFixtures.encode(tok, bytes, parseSpecial: false) == cols[1]!, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test func specialIdsAndFlags() throws {
        let tok = try TokenizerFixtures.load("bpe_llama3")
        #expect(tok.bos == 0 && tok.eos == 1 && tok.eot == 2)
        #expect(tok.endOfGeneration == [1, 2])
        #expect(tok.encode("Hi", addSpecial: true).first == 0)
        #expect(String(decoding: tok.piece(2), as: UTF8.self) == "<|eot_id|>")
        let spm = try TokenizerFixtures.load("spm_llama")
        #expect(spm.bos == 1 && spm.eos == 2)
        // SentencePiece: the added leading space is not part of the decoded text.
        #expect(spm.decode(spm.encode("hello world", addSpecial: true), skipSpecial: true) == Array("hello world".utf8))
    }

    @Test func streamingDecoderHoldsSplitCharacters() throws {
        let tok = try TokenizerFixtures.load("bpe_llama3")
        // An emoji is several byte tokens in this small vocabulary: no piece may be broken UTF-8.
        let text = "a 🦩 and 中文 e\u{301}"
        let ids = tok.encode(text, addSpecial: false)
        var d = StreamingDecoder(tokenizer: tok)
        var out = ""
        for t in ids {
            let piece = d.push(t)
            #expect(!piece.unicodeScalars.contains("\u{FFFD}"))
            out += piece
        }
        out += d.finish()
        #expect(out == text)
        // A dangling lead byte is held, then replaced at the end.
        var d2 = StreamingDecoder(tokenizer: tok)
        let lead = TokenizerFixtures.encode(tok, [0xF0, 0x9F])
        var s = ""
        for t in lead { s += d2.push(t) }
        #expect(s == "")
        #expect(d2.finish() == "\u{FFFD}")   // one replacement for the truncated sequence
        var d3 = StreamingDecoder(tokenizer: tok)
        var s3 = ""
        for t in TokenizerFixtures.encode(tok, [0xE6, 0x97, 0x41]) { s3 += d3.push(t) }
        #expect(s3 + d3.finish() == "\u{FFFD}A")
    }

    @Test func anyBytesAreValidInput() throws {
        let tok = try TokenizerFixtures.load("bpe_llama3")
        var rng = SplitMix(seed: 7)
        for _ in 0..<200 {
            let n = Int(rng.next() % 64)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let ids = TokenizerFixtures.encode(tok, bytes)
            #expect(tok.decode(ids) == bytes)
        }
        // A long word without spaces goes through the heap merger.
        let long = [UInt8](repeating: 0x61, count: 5000) + Array("bcdefgh".utf8)
        #expect(tok.decode(TokenizerFixtures.encode(tok, long)) == long)
    }

    /// Tokens are matched as bytes: merges between non-ASCII byte-level symbols, and user-defined tokens
    /// that Swift Strings would call equal (a precomposed "é" and "e" + U+0301) each keep their own id.
    @Test func tokensAreBytes() throws {
        let bl = { (b: [UInt8]) in ByteLevel.encode(b) }
        var tokens = (0..<256).map { bl([UInt8($0)]) }
        tokens += [bl([0xC3, 0xA9]), bl([0xCC, 0x81]), bl([0x65, 0xCC, 0x81]), "\u{E9}!", "e\u{301}!"]
        let types = [Int32](repeating: 1, count: 259) + [4, 4]
        let merges = [bl([0xC3]) + " " + bl([0xA9]), bl([0xCC]) + " " + bl([0x81]), bl([0x65]) + " " + bl([0xCC, 0x81])]
        var g = GGUFBuilder(tensors: 0, kvs: 4)
        g.string("tokenizer.ggml.model"); g.u32(8); g.string("gpt2")
        g.string("tokenizer.ggml.tokens"); g.u32(9); g.u32(8); g.u64(UInt64(tokens.count)); tokens.forEach { g.string($0) }
        g.string("tokenizer.ggml.token_type"); g.u32(9); g.u32(5); g.u64(UInt64(types.count)); types.forEach { g.u32(UInt32($0)) }
        g.string("tokenizer.ggml.merges"); g.u32(9); g.u32(8); g.u64(UInt64(merges.count)); merges.forEach { g.string($0) }
        let tmp = TempFile(g.bytes)
        defer { tmp.remove() }
        let tok = try #require(try Tokenizer.load(GGUFFile(path: tmp.path)))
        #expect(TokenizerFixtures.encode(tok, [0xC3, 0xA9]) == [256])
        // a combining mark is a pre-token of its own (not a letter), so "e" and U+0301 stay apart
        #expect(TokenizerFixtures.encode(tok, [0x65, 0xCC, 0x81]) == [101, 257])
        #expect(TokenizerFixtures.encode(tok, Array("\u{E9}!".utf8)) == [259])
        #expect(TokenizerFixtures.encode(tok, Array("e\u{301}!".utf8)) == [260])
    }

    @Test func encodeSpeed() throws {
        // Report only (machines are noisy): English text through the Llama-3 pre-tokenizer and BPE.
        let tok = try TokenizerFixtures.load("bpe_llama3")
        let sentence = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. "
        let text = String(repeating: sentence, count: 2000)
        let t0 = monotonicSeconds()
        let ids = tok.encode(text, addSpecial: false)
        let dt = monotonicSeconds() - t0
        print("tokenizer encode: \(text.utf8.count) bytes -> \(ids.count) tokens in \(dt) s = \(Double(text.utf8.count) / dt / 1e6) MB/s")
        #expect(ids.count > 0)
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

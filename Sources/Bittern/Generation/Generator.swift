#if canImport(Glibc)
import Glibc
#endif

public enum FinishReason: Int32, Sendable, CustomStringConvertible {
    case length = 0          // max tokens reached
    case endOfGeneration = 1 // the model produced EOS / end of turn
    case stopString = 2      // a stop string appeared (it is not part of the output)
    case cancelled = 3       // the callback returned false
    case contextFull = 4     // the context has no room for another token

    public var description: String {
        switch self {
        case .length: return "length"
        case .endOfGeneration: return "end of generation"
        case .stopString: return "stop string"
        case .cancelled: return "cancelled"
        case .contextFull: return "context full"
        }
    }
}

public struct GenerationResult: Sendable {
    public var promptTokens = 0          // tokens decoded for the prompt (after any reused prefix)
    public var reusedTokens = 0          // prompt tokens already in the context
    public var generatedTokens = 0
    public var finish = FinishReason.length
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var text = ""
}

/// Generation on one context: decodes the prompt, then samples, streams and decodes token by token.
///
/// The context keeps what it holds: a prompt continues the context's tokens, and with `reusePrefix` the
/// prompt is instead compared with the context's tokens and only what differs is decoded (chat turns).
/// Text reaches `onText` as valid UTF-8 only; text that may be the start of a stop string is held back
/// until it is known not to be one. When the context fills up, generation ends with `.contextFull`
/// (no shifting: the caller decides whether to reset or truncate).
public struct Generator {
    public var maxTokens = 256            // < 0: until the context is full
    public var stopStrings: [String] = []
    public var reusePrefix = false
    /// Remove one leading space from the reply's text (see ChatTemplate.replyPrompt).
    public var dropLeadingSpace = false

    public init() {}

    public func run(context: ModelContext, prompt: [Int32], sampler: Sampler,
                    onText: (String, Int32) -> Bool) throws -> GenerationResult {
        guard let tok = context.model.tokenizer else {
            throw BitternError.unsupported("\(context.model.path): the model file has no tokenizer")
        }
        for s in stopStrings where s.isEmpty { throw BitternError.invalidArgument("stop strings must not be empty") }
        var result = GenerationResult()
        var newTokens = prompt
        var keep = context.position
        if reusePrefix {
            var common = 0
            let held = context.tokens
            while common < held.count && common < prompt.count && held[common] == prompt[common] { common += 1 }
            // Keep at least one prompt token to decode: its logits start the reply.
            if common == prompt.count && common > 0 { common -= 1 }
            keep = common
            newTokens = Array(prompt[common...])
            result.reusedTokens = common
        }
        // Checked before anything changes, so a call that fails here leaves the context as it was.
        guard !newTokens.isEmpty || keep > 0 else {
            throw BitternError.invalidArgument("generate needs a prompt (the context is empty and the prompt has no tokens)")
        }
        guard newTokens.count <= context.nCtx - keep else {
            throw BitternError(Status.contextFull,
                               "context full: the prompt needs \(keep + newTokens.count) positions, n_ctx is \(context.nCtx)")
        }
        if keep < context.position { try context.truncate(to: keep) }
        let t0 = monotonicSeconds()
        if !newTokens.isEmpty { try context.decode(tokens: newTokens) }
        else if context.logitsCount == 0 {
            throw BitternError.invalidArgument("generate: nothing to continue from (empty prompt and no logits)")
        }
        // The penalty window sees the sequence as the context holds it (earlier turns included, each token
        // once), set only once the prompt is in: a failed call leaves the sampler as it was.
        sampler.setHistory(context.tokens)
        result.promptTokens = newTokens.count
        result.prefillSeconds = monotonicSeconds() - t0

        var stream = StreamingDecoder(tokenizer: tok, skipSpecial: true, atStart: context.position <= 1)
        var held = ""          // decoded text not yet delivered (may start a stop string)
        var output = ""
        let t1 = monotonicSeconds()
        var finish = FinishReason.length
        var n = 0
        var atReplyStart = dropLeadingSpace
        var callerStopped = false
        func deliver(_ text: String, _ token: Int32) -> Bool {
            var text = text
            if atReplyStart && !text.isEmpty {
                if text.hasPrefix(" ") { text.removeFirst() }
                atReplyStart = false
            }
            output += text
            return onText(text, token)
        }
        loop: while maxTokens < 0 || n < maxTokens {
            let logits = try context.logits(at: -1)
            let token = try logits.withUnsafeBufferPointer { try sampler.sample($0) }
            sampler.accept(token)
            n += 1
            if tok.endOfGeneration.contains(token) { finish = .endOfGeneration; break }
            held += stream.push(token)
            if let (before, _) = Self.firstStop(in: held, stops: stopStrings) {
                _ = deliver(before, token)
                held = ""
                finish = .stopString
                break loop
            }
            let keep = Self.heldSuffixLength(held, stops: stopStrings)
            let bytes = Array(held.utf8)
            let ready = String(decoding: bytes[..<(bytes.count - keep)], as: UTF8.self)
            held = String(decoding: bytes[(bytes.count - keep)...], as: UTF8.self)
            let goOn = deliver(ready, token)
            if !goOn { callerStopped = true }
            if context.position >= context.nCtx { finish = goOn ? .contextFull : .cancelled; break }
            // The delivered token joins the context even when the caller stops here, so the context
            // holds exactly the text it was given.
            try context.decode(tokens: [token])
            if !goOn { finish = .cancelled; break }
        }
        if finish != .stopString && !callerStopped {
            let rest = held + stream.finish()
            if !rest.isEmpty { _ = deliver(rest, -1) }
        }
        result.generatedTokens = n
        result.finish = finish
        result.decodeSeconds = monotonicSeconds() - t1
        result.text = output
        return result
    }

    /// The text before the earliest stop string, and which one. Matched on UTF-8 bytes (both sides are
    /// valid UTF-8, so a match starts on a character boundary), not on grapheme clusters: "\n" stops
    /// "\r\n" too.
    static func firstStop(in text: String, stops: [String]) -> (String, String)? {
        let t = Array(text.utf8)
        var best: (Int, String)? = nil
        for s in stops {
            let b = Array(s.utf8)
            guard b.count <= t.count else { continue }
            var i = 0
            while i + b.count <= t.count && (best == nil || i < best!.0) {
                if t[i] == b[0] && t[i..<(i + b.count)].elementsEqual(b) { best = (i, s); break }
                i += 1
            }
        }
        guard let (at, s) = best else { return nil }
        return (String(decoding: t[..<at], as: UTF8.self), s)
    }

    /// Bytes of the longest suffix of text that is a proper prefix of a stop string (it starts on a
    /// character boundary for the same reason as above).
    static func heldSuffixLength(_ text: String, stops: [String]) -> Int {
        let t = Array(text.utf8)
        var keep = 0
        for s in stops {
            let b = Array(s.utf8)
            var k = min(b.count - 1, t.count)
            while k > keep {
                if t[(t.count - k)...].elementsEqual(b[..<k]) { keep = k; break }
                k -= 1
            }
        }
        return keep
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

#if canImport(Glibc)
import Glibc
#endif

/// Perplexity of a token sequence, the way tools/train/model.py evaluates it (so the two can be compared):
/// the tokens are cut into chunks of chunkSize - 1, each chunk decoded from an empty context after BOS,
/// and every token of a chunk after BOS is scored by -log softmax(logits of the token before it), in double.
public enum Perplexity {
    public struct Result: Sendable {
        public var nllSum = 0.0
        public var scored = 0
        public var chunks = 0
        public var perplexity: Double { scored > 0 ? exp(nllSum / Double(scored)) : .nan }
    }

    public static func evaluate(context: ModelContext, tokens: [Int32], bos: Int32, chunkSize: Int,
                                maxChunks: Int? = nil) throws -> Result {
        guard context.logitsAll else { throw BitternError.invalidArgument("perplexity needs a context with logitsAll") }
        guard chunkSize >= 2, chunkSize <= context.nCtx else {
            throw BitternError.invalidArgument("chunk size \(chunkSize) must be in [2, n_ctx \(context.nCtx)]")
        }
        guard !tokens.isEmpty else { throw BitternError.invalidArgument("perplexity: the text has no tokens") }
        let vocab = context.model.hparams.vocabSize
        var r = Result()
        var start = 0
        while start < tokens.count {
            if let m = maxChunks, r.chunks >= m { break }
            let body = tokens[start..<min(start + chunkSize - 1, tokens.count)]
            let chunk = [bos] + body
            context.reset()
            try context.decode(tokens: chunk)
            for i in 0..<(chunk.count - 1) {
                let row = try context.logits(at: i)
                r.nllSum += row.withUnsafeBufferPointer { p in
                    var m = -Double.infinity
                    for j in 0..<vocab { m = max(m, Double(p[j])) }
                    var s = 0.0
                    for j in 0..<vocab { s += exp(Double(p[j]) - m) }
                    return m + log(s) - Double(p[Int(chunk[i + 1])])
                }
                r.scored += 1
            }
            r.chunks += 1
            start += chunkSize - 1
        }
        return r
    }
}

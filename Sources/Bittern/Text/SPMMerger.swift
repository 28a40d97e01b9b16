/// SentencePiece-style BPE (GGUF tokenizer model "llama"): start from the UTF-8 characters of the escaped
/// text, repeatedly join the adjacent pair whose concatenation is the highest-scoring piece of the
/// vocabulary (ties: leftmost), then emit each symbol's id, or its bytes as <0xNN> tokens (byte fallback).
struct SPMMerger {
    /// Piece bytes -> id, for the pieces merging may produce (normal and user-defined tokens).
    let pieces: [[UInt8]: Int32]
    let scores: [Float]
    /// id of <0xNN> for each byte, -1 where the vocabulary has none.
    let byteTokens: [Int32]
    let unknown: Int32?

    func encode(_ text: [UInt8], into out: inout [Int32]) {
        let n = text.count
        guard n > 0 else { return }
        // Symbols: [start, end) byte ranges of single characters (an invalid byte is its own symbol).
        var start = [Int](), end = [Int]()
        text.withUnsafeBufferPointer { t in
            var i = 0
            while i < n {
                let len = t[i] < 0x80 ? 1 : (UnitScanner.decodeUTF8(t, i)?.1 ?? 1)
                start.append(i); end.append(i + len); i += len
            }
        }
        let m = start.count
        var next = Array(1...m), prev = Array(-1..<(m - 1))
        var alive = [Bool](repeating: true, count: m)
        var heap = BinaryHeap<Candidate>()
        func consider(_ l: Int) {
            let r = next[l]
            guard l >= 0, r < m else { return }
            if let id = pieces[Array(text[start[l]..<end[r]])] {
                heap.push(.init(score: scores[Int(id)], left: l, length: end[r] - start[l]))
            }
        }
        for i in 0..<(m - 1) { consider(i) }
        while let c = heap.pop() {
            let l = c.left
            guard alive[l], next[l] < m, end[next[l]] - start[l] == c.length else { continue }
            let r = next[l]
            end[l] = end[r]
            alive[r] = false
            next[l] = next[r]
            if next[r] < m { prev[next[r]] = l }
            if prev[l] >= 0 { consider(prev[l]) }
            consider(l)
        }
        var i = 0
        while i < m {
            let piece = Array(text[start[i]..<end[i]])
            if let id = pieces[piece] {
                out.append(id)
            } else {
                for b in piece {
                    if byteTokens[Int(b)] >= 0 { out.append(byteTokens[Int(b)]) }
                    else if let u = unknown { out.append(u) }
                }
            }
            i = next[i]
        }
    }

    /// Highest score first, then leftmost.
    struct Candidate: HeapElement {
        var score: Float
        var left: Int
        var length: Int
        static func before(_ x: Candidate, _ y: Candidate) -> Bool { x.score != y.score ? x.score > y.score : x.left < y.left }
    }
}

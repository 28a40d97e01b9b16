/// Merges the symbols of one pre-tokenized word, lowest-ranked pair first (ties: leftmost), as byte-level
/// BPE (GPT-2, Llama-3) does. A min-heap over candidate pairs with lazy invalidation keeps long words
/// (a megabyte without a space is valid input) at O(n log n).
struct BPEMerger {
    /// (left id << 32 | right id) -> (rank, merged id)
    let merges: [UInt64: (rank: Int32, id: Int32)]

    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    func merge(_ symbols: inout [Int32]) {
        let n = symbols.count
        guard n > 1 else { return }
        if n <= 12 { mergeSmall(&symbols); return }
        var next = Array(1...n), prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = BinaryHeap<Candidate>()
        for i in 0..<(n - 1) {
            if let m = merges[Self.key(symbols[i], symbols[i + 1])] { heap.push(.init(rank: m.rank, pos: i, id: m.id)) }
        }
        while let c = heap.pop() {
            let i = c.pos
            guard alive[i] else { continue }
            let j = next[i]
            guard j < n, let m = merges[Self.key(symbols[i], symbols[j])], m.rank == c.rank, m.id == c.id else { continue }
            symbols[i] = m.id
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0, let l = merges[Self.key(symbols[prev[i]], symbols[i])] {
                heap.push(.init(rank: l.rank, pos: prev[i], id: l.id))
            }
            if next[i] < n, let r = merges[Self.key(symbols[i], symbols[next[i]])] {
                heap.push(.init(rank: r.rank, pos: i, id: r.id))
            }
        }
        var out = [Int32]()
        out.reserveCapacity(n)
        var i = 0
        while i < n { out.append(symbols[i]); i = next[i] }
        symbols = out
    }

    /// Quadratic, allocation-light version for the usual short word.
    private func mergeSmall(_ s: inout [Int32]) {
        while s.count > 1 {
            var best: (rank: Int32, pos: Int, id: Int32)? = nil
            for i in 0..<(s.count - 1) {
                if let m = merges[Self.key(s[i], s[i + 1])], best == nil || m.rank < best!.rank {
                    best = (m.rank, i, m.id)
                }
            }
            guard let b = best else { return }
            s[b.pos] = b.id
            s.remove(at: b.pos + 1)
        }
    }

    /// Lowest rank first, then leftmost.
    struct Candidate: HeapElement {
        var rank: Int32
        var pos: Int
        var id: Int32
        static func before(_ x: Candidate, _ y: Candidate) -> Bool { x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos }
    }
}

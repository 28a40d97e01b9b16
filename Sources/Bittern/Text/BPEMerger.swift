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
        var heap = Heap()
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

    struct Candidate { var rank: Int32; var pos: Int; var id: Int32 }

    /// Binary min-heap on (rank, pos).
    struct Heap {
        var a: [Candidate] = []
        static func less(_ x: Candidate, _ y: Candidate) -> Bool { x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos }
        mutating func push(_ c: Candidate) {
            a.append(c)
            var i = a.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard Self.less(a[i], a[p]) else { break }
                a.swapAt(i, p); i = p
            }
        }
        mutating func pop() -> Candidate? {
            guard let top = a.first else { return nil }
            let last = a.removeLast()
            if !a.isEmpty {
                a[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < a.count && Self.less(a[l], a[m]) { m = l }
                    if r < a.count && Self.less(a[r], a[m]) { m = r }
                    if m == i { break }
                    a.swapAt(i, m); i = m
                }
            }
            return top
        }
    }
}

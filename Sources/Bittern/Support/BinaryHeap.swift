/// What a BinaryHeap orders by: `before(a, b)` is true when a must come out first.
protocol HeapElement {
    static func before(_ a: Self, _ b: Self) -> Bool
}

/// A binary heap: push, and pop of the element that comes first. (The BPE mergers' priority queues.)
struct BinaryHeap<E: HeapElement> {
    private var a: [E] = []

    mutating func push(_ e: E) {
        a.append(e)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard E.before(a[i], a[p]) else { break }
            a.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> E? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < a.count && E.before(a[l], a[m]) { m = l }
                if r < a.count && E.before(a[r], a[m]) { m = r }
                if m == i { break }
                a.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

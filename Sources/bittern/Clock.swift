#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

/// Median seconds per call of `body`: calls are grouped so each sample lasts >= 5 ms, and the number
/// of samples fits a time budget (at least 3, at most 15).
func timeMedian(budget: Double = 0.6, _ body: () throws -> Void) rethrows -> Double {
    try body() // warm up caches and page tables
    let t0 = now()
    try body()
    let once = max(now() - t0, 1e-7)
    let perSample = max(1, Int(0.005 / once))
    let samples = min(15, max(3, Int(budget / (once * Double(perSample)))))
    var times: [Double] = []
    for _ in 0..<samples {
        let s = now()
        for _ in 0..<perSample { try body() }
        times.append((now() - s) / Double(perSample))
    }
    return median(times)
}

/// Deterministic pseudo-random numbers (xorshift64*): benchmarks and demos must be repeatable.
struct Rng {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    /// Fills with trits, about a third of them zero (absmean of Gaussian weights gives ~31%).
    mutating func fillTrits(_ t: UnsafeMutableBufferPointer<Int8>) {
        for i in t.indices { t[i] = Int8(truncatingIfNeeded: next() % 3) - 1 }
    }
    /// Fills with trits of which a fraction `zeroFraction` are zero, the rest +1/-1 at random.
    mutating func fillTrits(_ t: UnsafeMutableBufferPointer<Int8>, zeroFraction: Double) {
        let cut = UInt64(zeroFraction * Double(UInt64(1) << 53))
        for i in t.indices {
            let r = next()
            t[i] = (r >> 11) < cut ? 0 : (r & 1 == 0 ? 1 : -1)
        }
    }
    mutating func fillInt8(_ q: UnsafeMutableBufferPointer<Int8>) {
        for i in q.indices { q[i] = Int8(truncatingIfNeeded: next() >> 56) }
    }
}

func fmt(_ x: Double, _ decimals: Int = 1) -> String {
    var p = 1.0
    for _ in 0..<decimals { p *= 10 }
    let r = (x * p).rounded() / p
    var s = String(r)
    if let dot = s.firstIndex(of: ".") {
        let have = s.distance(from: dot, to: s.endIndex) - 1
        if have < decimals { s += String(repeating: "0", count: decimals - have) }
        if decimals == 0 { s = String(s[..<dot]) }
    }
    return s
}

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? s + fill : fill + s
}

/// Prints to stderr (fd 2) without Foundation.
func printError(_ s: String, newline: Bool = true) {
    let line = newline ? s + "\n" : s
    _ = line.withCString { write(2, $0, strlen($0)) }
}

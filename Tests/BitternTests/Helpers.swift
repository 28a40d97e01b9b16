@testable import Bittern
import BitternKernels

/// Deterministic random numbers for tests (xorshift64*).
struct TestRng {
    var state: UInt64
    init(_ seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func trits(_ n: Int, zeroEvery: UInt64 = 3) -> [Int8] {
        (0..<n).map { _ in
            let r = next()
            return r % zeroEvery == 0 ? 0 : (r & 0x100 == 0 ? 1 : -1)
        }
    }
    mutating func int8s(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8(truncatingIfNeeded: next() >> 56) } }
    /// Roughly Gaussian floats (sum of uniforms), scaled.
    mutating func floats(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in
            var s: Float = 0
            for _ in 0..<4 { s += Float(next() >> 40) / Float(1 << 24) - 0.5 }
            return s * scale
        }
    }
}

/// The reference integer product, written independently of every backend.
func referenceProduct(_ t: [Int8], rows: Int, cols: Int, _ x: [Int8], n: Int) -> [Int32] {
    var y = [Int32](repeating: 0, count: n * rows)
    for k in 0..<n {
        for r in 0..<rows {
            var acc: Int32 = 0
            for j in 0..<cols { acc += Int32(t[r * cols + j]) * Int32(x[k * cols + j]) }
            y[k * rows + r] = acc
        }
    }
    return y
}

/// Runtime forcing one backend, with a given thread count.
func runtime(_ backend: String, threads: Int = 1) throws -> Runtime {
    var p = RuntimeParams()
    p.backend = backend
    p.threads = threads
    return try Runtime(p)
}

/// Names of built-in backends this machine can run.
let runnableBackends: [String] = BackendRegistry.shared.backends.filter { $0.isSupported() }.map(\.name)

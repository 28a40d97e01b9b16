import Bittern
import BitternBench
import BitternKernels
import BitternSupport
#if canImport(Glibc)
import Glibc
#endif

/// `bittern bench kernels`: per backend, GEMV (n=1) and GEMM (n=128) on the BitNet b1.58 2B4T
/// projection shapes with one thread (figures per thread), then a streaming run over one decode step's
/// worth of weights compared with the machine's measured read bandwidth. Prints ratios within the run,
/// because this machine's speed varies from run to run.
struct KernelBench {
    /// (rows, cols) of the 2B4T projections: q/o, k/v, gate/up, down.
    static let shapes: [(Int, Int)] = [(2560, 2560), (640, 2560), (6912, 2560), (2560, 6912)]
    /// Matrices of one 2B4T layer: q, k, v, o, gate, up, down.
    static let layer: [(Int, Int)] = [(2560, 2560), (640, 2560), (640, 2560), (2560, 2560),
                                      (6912, 2560), (6912, 2560), (2560, 6912)]

    var backends: [String]
    var gemmTokens = 128
    var streamThreads = 0
    var streamMegabytes = 520
    var quick = false
    /// Skip the per-shape kernel figures (for thread-scaling runs of the streaming pass).
    var streamOnly = false
    /// Directory of llama-cpp-python's libggml*.so, for the comparison (nil: search .venv-bench).
    var llamaLibDir: String? = nil

    struct Row { let backend: String; let shape: (Int, Int); let gemv: Double; let gemm: Double; let bytes: Int }

    func run() throws {
        if streamOnly { return try stream() }
        var rows: [Row] = []
        print("bittern \(Version.string) bench kernels -- cpu: \(CPUFeatures.brand), features: \(CPUFeatures.host.names.joined(separator: " "))")
        print("one thread; times are medians; G w/s = 10^9 ternary weights per second (GEMV), G MAC/s = weights x tokens per second (GEMM n=\(gemmTokens))")
        print("")
        print(pad("backend", 12, left: true) + pad("shape", 12, left: true) + pad("gemv", 11) + pad("G w/s", 9)
              + pad("GB/s", 8) + pad("gemm", 11) + pad("G MAC/s", 9) + pad("bits/w", 8))
        for name in backends {
            var p = RuntimeParams()
            p.threads = 1
            p.backend = name
            let rt = try Runtime(p)
            for (r, c) in KernelBench.shapes {
                let row = try measure(rt, rows: r, cols: c)
                rows.append(row)
                let w = Double(r * c)
                print(pad(name, 12, left: true) + pad("\(r)x\(c)", 12, left: true)
                      + pad(fmt(row.gemv * 1e6) + " us", 11) + pad(fmt(w / row.gemv / 1e9), 9)
                      + pad(fmt(Double(row.bytes) / row.gemv / 1e9), 8)
                      + pad(fmt(row.gemm * 1e3, 2) + " ms", 11)
                      + pad(fmt(w * Double(gemmTokens) / row.gemm / 1e9), 9)
                      + pad(fmt(Double(row.bytes) * 8 / w, 2), 8))
            }
        }
        printRatios(rows)
        compareWithLlamaCpp(rows)
        if streamMegabytes > 0 { try stream() }
    }

    func measure(_ rt: Runtime, rows: Int, cols: Int) throws -> Row {
        var rng = Rng(seed: UInt64(rows * 31 + cols))
        var trits = [Int8](repeating: 0, count: rows * cols)
        trits.withUnsafeMutableBufferPointer { rng.fillTrits($0) }
        let m = try TernaryMatrix(runtime: rt, trits: trits, rows: rows, cols: cols, alpha: 1)
        let n = gemmTokens
        var x = [Int8](repeating: 0, count: n * cols)
        x.withUnsafeMutableBufferPointer { rng.fillInt8($0) }
        let one = QuantizedActivations(int8: x, n: 1, cols: cols)
        let batch = QuantizedActivations(int8: x, n: n, cols: cols)
        defer { one.deallocate(); batch.deallocate() }
        let y = UnsafeMutablePointer<Int32>.allocate(capacity: n * rows)
        defer { y.deallocate() }
        let budget = quick ? 0.15 : 0.6
        let gemv = try timeMedian(budget: budget) { try m.multiply(one, into: y) }
        let gemm = try timeMedian(budget: budget) { try m.multiply(batch, into: y) }
        return Row(backend: rt.backend.name, shape: (rows, cols), gemv: gemv, gemm: gemm, bytes: m.packedBytes)
    }

    func printRatios(_ rows: [Row]) {
        guard let base = backends.first, backends.count > 1 else { return }
        print("")
        print("speed-up over \(base) (same run):")
        for name in backends.dropFirst() {
            var line = pad(name, 12, left: true)
            for (r, c) in KernelBench.shapes {
                guard let a = rows.first(where: { $0.backend == base && $0.shape == (r, c) }),
                      let b = rows.first(where: { $0.backend == name && $0.shape == (r, c) }) else { continue }
                line += "  \(r)x\(c): gemv x\(fmt(a.gemv / b.gemv)) gemm x\(fmt(a.gemm / b.gemm))"
            }
            print(line)
        }
    }

    /// Times llama.cpp's TQ2_0 mul_mat (ggml graph API, one thread) on the same shapes, when a
    /// llama-cpp-python install is found, and prints our best backend's speed relative to it.
    func compareWithLlamaCpp(_ rows: [Row]) {
        print("")
        guard let dir = llamaLibDir ?? KernelBench.findLlamaCppLib() else {
            print("llama.cpp comparison: skipped (no llama-cpp-python found; run benchmarks/setup_llamacpp.sh or pass --llamacpp-lib DIR)")
            return
        }
        guard bb_ggml_load(dir) == 0 else {
            print("llama.cpp comparison: skipped (\(String(cString: bb_ggml_error())))")
            return
        }
        // Compare with the fastest backend measured (by GEMV over all shapes).
        let time = Dictionary(grouping: rows, by: \.backend).mapValues { $0.reduce(0) { $0 + $1.gemv } }
        guard let best = time.min(by: { $0.value < $1.value })?.key else { return }
        print("llama.cpp TQ2_0 (ggml mul_mat, 1 thread, from \(dir)) vs \(best):")
        let samples = quick ? 3 : 9
        for (r, c) in KernelBench.shapes {
            let gemv = bb_ggml_tq2_0_mul_mat(Int64(r), Int64(c), 1, 1, Int32(samples))
            let gemm = bb_ggml_tq2_0_mul_mat(Int64(r), Int64(c), Int64(gemmTokens), 1, Int32(max(3, samples / 3)))
            guard gemv > 0, gemm > 0, let ours = rows.first(where: { $0.backend == best && $0.shape == (r, c) }) else {
                print("  \(r)x\(c): ggml failed")
                continue
            }
            let w = Double(r * c)
            print("  " + pad("\(r)x\(c)", 10, left: true) + " gemv " + fmt(w / gemv / 1e9) + " G w/s (ours x"
                  + fmt(gemv / ours.gemv, 2) + ")   gemm n=\(gemmTokens) " + fmt(w * Double(gemmTokens) / gemm / 1e9)
                  + " G MAC/s (ours x" + fmt(gemm / ours.gemm, 2) + ")")
        }
    }

    /// .venv-bench/lib/python3.*/site-packages/llama_cpp/lib under the working directory or the checkout
    /// that holds this executable (build/bin/bittern).
    static func findLlamaCppLib() -> String? {
        var roots = ["."]
        if let exe = realpath(CommandLine.arguments[0], nil) {
            let path = String(cString: exe)
            free(exe)
            var parts = path.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count > 3 { parts.removeLast(3); roots.append(parts.joined(separator: "/")) }
        }
        for root in roots {
            var g = glob_t()
            defer { globfree(&g) }
            if glob(root + "/.venv-bench/lib/python3*/site-packages/llama_cpp/lib/libggml-cpu.so", 0, nil, &g) == 0,
               g.gl_pathc > 0, let first = g.gl_pathv[0] {
                let file = String(cString: first)
                return String(file[..<file.lastIndex(of: "/")!])
            }
        }
        return nil
    }

    /// Streams one decode step: 30 layers of 2B4T matrices (~520 MB packed at 2 bits), each multiplied
    /// once per pass by a single token, so every byte comes from DRAM; then the plain read bandwidth
    /// of the same number of threads, for the ratio.
    func stream() throws {
        var p = RuntimeParams()
        p.threads = streamThreads
        let rt = try Runtime(p)
        var rng = Rng(seed: 7)
        // One random trit pattern per distinct shape, packed into separate matrices (distinct memory).
        var patterns: [String: [Int8]] = [:]
        var matrices: [TernaryMatrix] = []
        var bytes = 0
        let target = streamMegabytes * 1_000_000
        while bytes < target {
            for (r, c) in KernelBench.layer where bytes < target {
                let key = "\(r)x\(c)"
                if patterns[key] == nil {
                    var t = [Int8](repeating: 0, count: r * c)
                    t.withUnsafeMutableBufferPointer { rng.fillTrits($0) }
                    patterns[key] = t
                }
                let m = try TernaryMatrix(runtime: rt, trits: patterns[key]!, rows: r, cols: c, alpha: 1)
                bytes += m.packedBytes
                matrices.append(m)
            }
        }
        patterns = [:]
        var inputs: [Int: QuantizedActivations] = [:]
        for c in Set(matrices.map(\.cols)) {
            var x = [Int8](repeating: 0, count: c)
            x.withUnsafeMutableBufferPointer { rng.fillInt8($0) }
            inputs[c] = QuantizedActivations(int8: x, n: 1, cols: c)
        }
        defer { inputs.values.forEach { $0.deallocate() } }
        let y = UnsafeMutablePointer<Int32>.allocate(capacity: 8192)
        defer { y.deallocate() }
        // Each decode pass is paired with a plain read pass right before it, so both see the same
        // machine (this VM's memory bandwidth drifts by 20-30% over seconds); the ratio is the median of
        // the pairs' ratios.
        let reader = BandwidthProbe(bytes: max(bytes, 256 << 20))
        defer { reader.deallocate() }
        var passes: [Double] = [], reads: [Double] = [], ratios: [Double] = []
        _ = reader.pass(rt)
        for m in matrices { try m.multiply(inputs[m.cols]!, into: y) }
        for _ in 0..<(quick ? 3 : 7) {
            let read = reader.pass(rt)
            let t0 = now()
            for m in matrices { try m.multiply(inputs[m.cols]!, into: y) }
            let t = now() - t0
            passes.append(t)
            reads.append(read)
            ratios.append(Double(bytes) / t / 1e9 / read)
        }
        let t = median(passes)
        let gbs = Double(bytes) / t / 1e9
        let weights = Double(matrices.reduce(0) { $0 + $1.rows * $1.cols })
        print("")
        print("streaming: \(matrices.count) matrices, \(fmt(Double(bytes) / 1e6, 0)) MB packed (\(rt.backend.name)), \(rt.threads) threads")
        print("  one pass (a decode step's ternary weights): \(fmt(t * 1e3, 2)) ms = \(fmt(gbs)) GB/s = \(fmt(weights / t / 1e9)) G w/s")
        print("  plain read bandwidth, \(rt.threads) threads: \(fmt(median(reads))) GB/s (median of the paired read passes)")
        print("  ratio to read bandwidth: \(fmt(median(ratios) * 100))% (median of \(ratios.count) paired passes; range \(fmt(ratios.min()! * 100))-\(fmt(ratios.max()! * 100))%)")
    }

    /// Reads a buffer as fast as the machine can, with the runtime's threads (each its own slice).
    struct BandwidthProbe {
        let buffer: UnsafeMutableRawPointer
        let size: Int

        init(bytes: Int) {
            size = bytes / 4096 * 4096
            // Allocated as the weights are (huge pages where the kernel grants them), so the yardstick
            // gets every advantage the weights get.
            buffer = bts_alloc_streamed(size)!
            memset(buffer, 1, size) // fault the pages in before timing
        }

        func deallocate() { bts_aligned_free(buffer) }

        /// GB/s of one pass.
        func pass(_ rt: Runtime) -> Double {
            let avx2: Int32 = CPUFeatures.host.contains(UInt64(BITTERN_CPU_AVX2)) ? 1 : 0
            let t0 = now()
            rt.parallelFor(size / 4096, grain: 1) { b, e in
                // The C function returns a value built from every byte read, so the reads stay.
                if bb_read_bytes(buffer + b * 4096, (e - b) * 4096, avx2) == 0x5eed { print("") }
            }
            let t = now() - t0
            return Double(size) / t / 1e9
        }
    }
}

import Bittern
#if canImport(Glibc)
import Glibc
#endif

/// `bittern bench model -m FILE`: decode and prefill speed of a whole model, its peak RSS, and decode
/// against the bandwidth limit (the machine's read bandwidth measured in the same run, divided by the
/// bytes a decode step reads). The numbers benchmarks/compare_llamacpp.sh puts next to llama.cpp's.
struct ModelBench {
    var path: String
    var threads = 0
    var promptTokens = 16
    var decodeTokens = 64
    var prefillTokens = 128
    var head = HeadType.default
    var json = false

    func run() throws {
        var p = RuntimeParams()
        p.threads = threads
        let rt = try Runtime(p)
        let t0 = now()
        let model = try BitNetModel(path: path, runtime: rt, headType: head)
        let loadSeconds = now() - t0
        let vocab = model.hparams.vocabSize
        var rng = Rng(seed: 11)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) } }
        let ctx = try model.makeContext(nCtx: max(promptTokens + decodeTokens, prefillTokens) + 1)

        // Prefill: the fastest of 5 runs of a prefillTokens-token prompt (this VM's second core is now and
        // then busy with another tenant's work for seconds at a time: a slow run measures that, not us;
        // benchmarks/llamacpp_model_bench.py measures llama.cpp the same way).
        var prefill: [Double] = []
        let prompt = tokens(prefillTokens)
        for _ in 0..<5 {
            ctx.reset()
            let s = now()
            try ctx.decode(tokens: prompt)
            prefill.append(now() - s)
        }
        // Decode: decodeTokens greedy tokens after a promptTokens-token prompt, twice; the faster run. Each
        // segment of `segment` tokens is paired with a plain read pass (512 MB, the same threads) right
        // before it: this VM's memory bandwidth drifts by 20-30% within seconds, so the
        // fraction of the bandwidth decode moves is the median of the segments' ratios to their own pass.
        // Peak RSS is read before the probe's buffer exists, after one decode run (a warm-up) has touched
        // everything decoding needs.
        func greedy(_ count: Int, _ logits: inout [Float]) throws {
            for _ in 0..<count {
                let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                logits = try ctx.decode(tokens: [next])
            }
        }
        ctx.reset()
        var warm = try ctx.decode(tokens: tokens(promptTokens))
        try greedy(decodeTokens, &warm)
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let peakRSS = Double(usage.ru_maxrss) * 1024

        let perToken = Double(model.packedBytes + model.head.bytes) // every ternary matrix and the head
        let probe = KernelBench.BandwidthProbe(bytes: 512 << 20)
        defer { probe.deallocate() }
        _ = probe.pass(rt)
        let segment = 8
        var decode: [Double] = [], reads: [Double] = [], fractions: [Double] = []
        for _ in 0..<2 {
            ctx.reset()
            var logits = try ctx.decode(tokens: tokens(promptTokens))
            var total = 0.0
            var done = 0
            while done < decodeTokens {
                let bandwidth = probe.pass(rt)
                let count = min(segment, decodeTokens - done)
                let s = now()
                try greedy(count, &logits)
                let t = now() - s
                total += t
                done += count
                reads.append(bandwidth)
                fractions.append(Double(count) * perToken / t / 1e9 / bandwidth)
            }
            decode.append(total)
        }

        let bandwidth = median(reads)
        let fraction = median(fractions)
        let decodeRate = Double(decodeTokens) / decode.min()!
        let prefillRate = Double(prefillTokens) / prefill.min()!
        let limit = bandwidth * 1e9 / perToken
        if json {
            print(JSON.object([
                ("engine", .string("bittern")), ("file", .string(path)), ("threads", .int(rt.threads)),
                ("backend", .string(rt.backend.name)), ("head_type", .string(model.head.type.rawValue)),
                ("load_s", .double(loadSeconds)), ("decode_tok_s", .double(decodeRate)),
                ("prefill_tok_s", .double(prefillRate)), ("peak_rss_bytes", .double(peakRSS)),
                ("bytes_per_token", .double(perToken)), ("read_bandwidth_gb_s", .double(bandwidth)),
                ("decode_bandwidth_fraction", .double(fraction)),
            ]).serialized())
            return
        }
        print("model \(path): \(model.hparams.blockCount) layers, \(rt.backend.name), \(rt.threads) threads, head \(model.head.type.rawValue)")
        print("  load \(fmt(loadSeconds, 2)) s; peak RSS \(fmt(peakRSS / 1e6, 0)) MB (packed ternary \(fmt(Double(model.packedBytes) / 1e6, 0)) MB, head \(fmt(Double(model.head.bytes) / 1e6, 0)) MB, KV \(fmt(Double(ctx.cache.bytes) / 1e6, 1)) MB)")
        print("  prefill \(prefillTokens) tokens: \(fmt(prefillRate)) tok/s (fastest of 5)")
        print("  decode \(decodeTokens) tokens after \(promptTokens): \(fmt(decodeRate)) tok/s (best of 2)")
        print("  a decode step reads \(fmt(perToken / 1e6, 0)) MB; read bandwidth \(fmt(bandwidth)) GB/s (median) -> limit \(fmt(limit)) tok/s")
        print("  decode moves \(fmt(fraction * 100, 0))% of the read bandwidth (median of \(fractions.count) \(segment)-token segments, each against a read pass just before it; range \(fmt(fractions.min()! * 100, 0))-\(fmt(fractions.max()! * 100, 0))%)")
    }
}

import Bittern
#if canImport(Glibc)
import Glibc
#endif

// The `bittern` command. Subcommands: run, chat, perplexity, tokenize, convert, quantize, info, backends, bench (kernels,
// sparse, topology), topology, version.
let usage = """
usage: bittern <command> [options]     (bittern <command> --help for a command's options)

commands:
  run -p PROMPT [-m FILE]   generate text (default model: the bundled demo model)
  chat [-m FILE]            interactive chat in the model's chat format
  perplexity -f TEXT        perplexity of a model on a text file
  tokenize -p TEXT          the tokens of a text
  convert HF_DIR -o OUT     a Hugging Face checkpoint to GGUF (--type i2_s|tq2_0|tq1_0, --head f16|q8)
  quantize IN OUT --type T  re-encode a GGUF model's ternary weights (and head) in another type
  info FILE [--json]        a model file: architecture, sizes, tensor types, tokenizer, chat template
  info [--pretty]           the runtime's decisions as JSON (CPU features, backends, threads, topology)
  backends                  every backend, whether it runs here, and why not
  bench kernels [options]   GEMV/GEMM speed per backend on BitNet 2B4T shapes, then a streaming run
      --backend NAME          only this backend (repeatable as a comma list); default: all supported
      --tokens N              GEMM batch (default 128)
      --threads N             threads for the streaming run (default: one per core)
      --stream-mb N           megabytes streamed (default 520; 0 skips)
      --quick                 fewer samples
      --stream-only           only the streaming run (e.g. to measure thread scaling)
      --llamacpp-lib DIR      llama-cpp-python's llama_cpp/lib, to time llama.cpp's TQ2_0 on the same
                              shapes (default: found under .venv-bench, see benchmarks/setup_llamacpp.sh)
  bench sparse [options]    dense vs sparse (zero-skipping) across zero fractions, cache-resident and
                            streaming, with the crossovers and bits per weight
      --threads N             threads (default: one per core)
      --layers N              2B4T layers in the streaming working set (default 8, ~140 M weights)
      --quick                 fewer passes
  bench topology [options]  the planner at scale: a runtime on a described machine (one worker per
                            core, numa_policy partition), 2B4T-shaped matrices, GEMV and GEMM n=8 through
                            the real code paths; checks results against one worker and that each worker
                            computes only rows of its own node's slice; exit 1 on a failure
      --topology SPEC         hwloc synthetic string or XML file (default: pack:2 numa:2 l3:1 core:32 pu:2)
      --rows R --cols C       one matrix of this shape instead of the 2B4T shapes
  bench model --model FILE  decode and prefill tok/s of a model file, peak RSS, decode against the read
                            bandwidth (--threads N, --head q8|q6|f16|f32, --json)
  topology [options]        the machine as hwloc sees it (packages, NUMA nodes, cores with their PUs
                            and kind, caches) and the worker plan: which core each worker runs on
      --topology SPEC         an hwloc synthetic string or XML file instead of this machine (nothing is
                              pinned or bound then: the plan is only computed)
      --threads N             cap the plan at N workers; --smt also plans SMT siblings
      --numa-policy P         partition | replicate | interleave | none (optionally :node,node...)
      --placement             also place a test matrix and report the bytes per node (move_pages)
      --json                  JSON instead of the tree
  version                   print the version

environment: BITTERN_BACKEND, BITTERN_PLUGIN_PATH, BITTERN_TOPOLOGY (see include/bittern.h)
"""

func runCLI(_ argv: [String]) throws -> Int32 {
    guard let command = argv.first, !command.hasPrefix("-") || command == "--help" || command == "-h" else {
        if argv.isEmpty { print(usage); return 2 }
        throw UsageError("expected a command before '\(argv[0])'")
    }
    let rest = Array(argv.dropFirst())
    switch command {
    case "run": return try runCommand(rest)
    case "chat": return try chatCommand(rest)
    case "perplexity": return try perplexityCommand(rest)
    case "tokenize": return try tokenizeCommand(rest)
    case "convert": return try convertCommand(rest)
    case "quantize": return try quantizeCommand(rest)
    case "--help", "-h", "help": print(usage); return 0
    default: break
    }
    let args = try Arguments(argv, valued: ["backend", "tokens", "threads", "stream-mb", "llamacpp-lib", "layers",
                                             "topology", "numa-policy", "rows", "cols", "model", "head"],
                             flags: ["pretty", "json", "quick", "stream-only", "smt", "placement"])
    if args.flags.contains("help") { print(usage); return 0 }
    switch command {
    case "version":
        print(Version.string)
    case "info":
        if args.positional.count >= 2 {
            guard args.positional.count == 2 else { throw UsageError("info: expected one model file") }
            try modelInfo(args.positional[1], json: args.flags.contains("json"))
            return 0
        }
        var p = RuntimeParams()
        p.backend = args.options["backend"]
        p.threads = try args.int("threads") ?? 0
        print(try Runtime(p).json.serialized(pretty: args.flags.contains("pretty")))
    case "backends":
        for b in BackendRegistry.shared.backends {
            let why = b.unsupportedReason() ?? "runs here"
            print(pad(b.name, 14, left: true) + pad("priority \(b.priority)", 13, left: true) + " \(why)  [\(b.origin)]")
        }
        for e in BackendRegistry.shared.pluginErrors { print("plugin error: \(e)") }
    case "bench":
        guard args.positional.count >= 2, ["kernels", "sparse", "topology", "model"].contains(args.positional[1]) else {
            throw UsageError("bench: expected 'bench kernels', 'bench sparse', 'bench topology' or 'bench model'")
        }
        if args.positional[1] == "model" {
            guard let path = args.options["model"] else { throw UsageError("bench model: give the model with --model FILE") }
            var bench = ModelBench(path: path)
            bench.threads = try args.int("threads") ?? 0
            bench.json = args.flags.contains("json")
            if let h = args.options["head"] {
                guard let t = HeadType(rawValue: h) else { throw UsageError("--head: unknown type '\(h)' (q8, q6, f16, f32)") }
                bench.head = t
            }
            try bench.run()
            return 0
        }
        if args.positional[1] == "topology" {
            var bench = TopologyBench()
            bench.spec = args.options["topology"] ?? TopologyBench.defaultSpec
            let rows = try args.int("rows"), cols = try args.int("cols")
            if rows != nil || cols != nil {
                guard let rows, let cols, rows > 0, cols > 0 else {
                    throw UsageError("bench topology: --rows and --cols go together and must be >= 1")
                }
                bench.shapes = [(rows, cols)]
            }
            return try bench.run() ? 0 : 1
        }
        if args.positional[1] == "sparse" {
            var bench = SparseBench()
            bench.threads = try args.int("threads") ?? 0
            bench.streamLayers = try args.int("layers") ?? 8
            bench.quick = args.flags.contains("quick")
            guard bench.streamLayers > 0 else { throw UsageError("bench sparse: --layers must be >= 1") }
            try bench.run()
            return 0
        }
        // Dense backends by default (bench sparse compares the sparse one at the zero fractions it is for).
        var names = BackendRegistry.shared.backends.filter { $0.isSupported() && !$0.isSparse }.map(\.name)
        if let only = args.options["backend"] { names = only.split(separator: ",").map(String.init) }
        var bench = KernelBench(backends: names)
        bench.gemmTokens = try args.int("tokens") ?? 128
        bench.streamThreads = try args.int("threads") ?? 0
        bench.streamMegabytes = try args.int("stream-mb") ?? 520
        bench.quick = args.flags.contains("quick")
        bench.llamaLibDir = args.options["llamacpp-lib"]
        bench.streamOnly = args.flags.contains("stream-only")
        guard bench.gemmTokens > 0, bench.streamMegabytes >= 0 else { throw UsageError("bench: sizes must be positive") }
        try bench.run()
    case "topology":
        var p = RuntimeParams()
        p.backend = args.options["backend"]
        p.threads = try args.int("threads") ?? 0
        p.topology = args.options["topology"]
        p.numaPolicy = args.options["numa-policy"]
        p.useSMT = args.flags.contains("smt")
        if p.threads == 0, let spec = p.topology {
            // Show the full plan of a described machine (one worker per core), not this machine's count.
            let t = try Topology.load(spec)
            p.threads = p.useSMT ? t.processingUnits : t.cores
        }
        let rt = try Runtime(p)
        var placed: TernaryMatrix?
        if args.flags.contains("placement") {
            // A 2B4T-sized FFN matrix (6912 x 2560), placed by the runtime's policy.
            let (rows, cols) = (6912, 2560)
            var trits = [Int8](repeating: 0, count: rows * cols)
            for i in 0..<trits.count { trits[i] = Int8((UInt64(i) &* 2654435761) >> 7 % 3) - 1 }
            placed = try trits.withUnsafeBufferPointer {
                try TernaryMatrix(runtime: rt, trits: $0.baseAddress!, rows: rows, cols: cols, alpha: 1)
            }
        }
        if args.flags.contains("json") {
            var fields: [(String, JSON)] = [("topology", rt.topology.json), ("numa_policy", .string(rt.numaPolicy)),
                                            ("plan", rt.planJSON)]
            if let m = placed { fields.append(("placement", m.placementJSON)) }
            print(JSON.object(fields).serialized(pretty: true))
        } else {
            print(rt.topology.tree, terminator: "")
            print(planText(rt), terminator: "")
            if let m = placed { print(placementText(m), terminator: "") }
        }
        withExtendedLifetime(placed) {}
    default:
        throw UsageError("unknown command '\(command)'")
    }
    return 0
}

do {
    exit(try runCLI(Array(CommandLine.arguments.dropFirst())))
} catch let e as UsageError {
    let cmd = CommandLine.arguments.dropFirst().first.map { $0.hasPrefix("-") ? "" : " " + $0 } ?? ""
    printError("bittern: \(e.description) (see 'bittern\(cmd) --help')")
    exit(2)
} catch let e as BitternError {
    printError("bittern: \(e.message)")
    exit(1)
} catch {
    printError("bittern: \(error)")
    exit(1)
}

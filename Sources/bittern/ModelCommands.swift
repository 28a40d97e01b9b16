import Bittern
#if canImport(Glibc)
import Glibc
#endif

// run, chat, perplexity, tokenize and `info FILE`: the commands that load a model.

let samplingHelp = """
      --temp T                temperature (default 0.8; 0: greedy)
      --top-k K               keep the K most likely tokens (default 40; 0: off)
      --top-p P               keep the smallest set with probability >= P (default 0.95; 1: off)
      --min-p P               drop tokens below P x the best probability (default 0.05; 0: off)
      --repeat-penalty R      penalise tokens of the last --repeat-last-n (default 1.1; 1: off)
      --repeat-last-n N       penalty window in tokens (default 64; -1: everything)
      --presence-penalty X    subtract X from tokens seen in the window (default 0)
      --frequency-penalty X   subtract X per occurrence in the window (default 0)
      --seed S                random seed (default: random); the same seed gives the same text
"""

let modelHelp = """
  -m, --model FILE          GGUF model (default: the bundled demo model, see models/README.md)
  -t, --threads N           worker threads (default: one per core)
  -c, --ctx-size N          context length (default: the model's)
      --backend NAME        kernel backend (default: the best this CPU runs)
      --head TYPE           output head storage: q8 (default), q6 (22% smaller), f16, f32
      --kv TYPE             KV cache storage: f16 (default), f32
"""

let runUsage = """
usage: bittern run [-m FILE] -p PROMPT [-n N] [options]

Generates a continuation of PROMPT and streams it to stdout; a timing line goes to stderr.

\(modelHelp)  -p, --prompt TEXT         the prompt
  -f, --file FILE           read the prompt from FILE instead
  -n, --n-predict N         tokens to generate (default 128; -1: until the context is full)
      --stop TEXT           stop before TEXT (repeatable)
      --parse-special       turn special-token text in the prompt (e.g. <|eot_id|>) into tokens
      --no-prompt           print only the continuation, not the prompt
\(samplingHelp)
"""

let chatUsage = """
usage: bittern chat [-m FILE] [options]

An interactive chat in the model's chat format. Type a message and Enter; /reset forgets the
conversation, /exit (or Ctrl-D) quits; Ctrl-C stops a reply, not the program.

\(modelHelp)  -s, --system TEXT         system message
      --template NAME       chat format: bitnet, llama3 or chatml (default: from the model file)
  -n, --n-predict N         longest reply in tokens (default 512)
\(samplingHelp)
"""

let perplexityUsage = """
usage: bittern perplexity [-m FILE] -f TEXT [options]

Perplexity of the model on a text file: the text is tokenized, cut into chunks of --chunk-size tokens
(BOS, then the next chunk-size - 1 tokens of text), and every token after the first of a chunk is
scored given the tokens before it in its chunk.

\(modelHelp)  -f, --file FILE           the text
      --chunk-size N        tokens per chunk (default: min(512, the model's context length))
      --chunks N            score only the first N chunks
      --json                print the result as JSON
"""

let tokenizeUsage = """
usage: bittern tokenize [-m FILE] -p TEXT [options]

Prints the tokens of TEXT, one per line: id and piece.

  -m, --model FILE          GGUF model (default: the bundled demo model)
  -p, --prompt TEXT         the text (or -f FILE)
  -f, --file FILE           read the text from FILE
      --no-bos              do not add BOS
      --parse-special       turn special-token text into tokens
      --ids                 print only the ids, on one line
"""

let modelValued: Set<String> = ["model", "threads", "ctx-size", "backend", "head", "kv"]
let samplingValued: Set<String> = ["temp", "top-k", "top-p", "min-p", "repeat-penalty", "repeat-last-n",
                                   "presence-penalty", "frequency-penalty", "seed"]
let shortAliases = ["m": "model", "t": "threads", "c": "ctx-size", "p": "prompt", "f": "file", "n": "n-predict",
                    "s": "system", "h": "help"]

func samplerParams(_ a: Arguments) throws -> SamplerParams {
    var p = SamplerParams()
    if let v = try a.float("temp") { p.temperature = v }
    if let v = try a.int("top-k") { p.topK = v }
    if let v = try a.float("top-p") { p.topP = v }
    if let v = try a.float("min-p") { p.minP = v }
    if let v = try a.float("repeat-penalty") { p.repeatPenalty = v }
    if let v = try a.int("repeat-last-n") { p.penaltyLastN = v }
    if let v = try a.float("presence-penalty") { p.presencePenalty = v }
    if let v = try a.float("frequency-penalty") { p.frequencyPenalty = v }
    p.seed = try a.uint64("seed")
    do { try p.validate() } catch let e as BitternError { throw UsageError(e.message.replacingPrefix("sampler: ", "")) }
    return p
}

extension String {
    func replacingPrefix(_ p: String, _ with: String) -> String { hasPrefix(p) ? with + dropFirst(p.count) : self }
}

/// Loads the model named by -m (or the bundled one), showing progress when stderr is a terminal.
func loadModel(_ a: Arguments) throws -> (BitNetModel, Double) {
    var rp = RuntimeParams()
    rp.backend = a.options["backend"]
    rp.threads = try a.int("threads") ?? 0
    guard rp.threads >= 0 else { throw UsageError("--threads must be >= 0") }
    let path = try a.options["model"] ?? DefaultModel.path()
    guard access(path, R_OK) == 0 else {
        throw BitternError.io("cannot open model '\(path)': \(String(cString: strerror(errno)))")
    }
    var head = HeadType.default
    if let h = a.options["head"] {
        guard let t = HeadType(rawValue: h) else { throw UsageError("--head: unknown type '\(h)' (q8, q6, f16, f32)") }
        head = t
    }
    let runtime = try Runtime(rp)
    let tty = isatty(2) != 0
    let t0 = now()
    let m = try BitNetModel(path: path, runtime: runtime, headType: head, progress: tty ? { f in
        printError("\rloading \(path) \(Int(f * 100))%", newline: false)
    } : nil)
    if tty { printError("\r\u{1B}[K", newline: false) }
    return (m, now() - t0)
}

func contextSize(_ a: Arguments, _ m: BitNetModel) throws -> Int {
    let n = try a.int("ctx-size") ?? 0
    guard n >= 0 else { throw UsageError("--ctx-size must be >= 0") }
    return n
}

func kvType(_ a: Arguments) throws -> KVType {
    guard let k = a.options["kv"] else { return .f16 }
    guard let t = KVType(rawValue: k) else { throw UsageError("--kv: unknown type '\(k)' (f16, f32)") }
    return t
}

func readText(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else {
        throw BitternError.io("cannot open '\(path)': \(String(cString: strerror(errno)))")
    }
    defer { fclose(f) }
    var bytes = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
        if n < buf.count { break }
    }
    if ferror(f) != 0 { throw BitternError.io("cannot read '\(path)'") }
    return String(decoding: bytes, as: UTF8.self)
}

func requireTokenizer(_ m: BitNetModel) throws -> Tokenizer {
    guard let t = m.tokenizer else { throw BitternError.unsupported("\(m.path) has no tokenizer") }
    return t
}

func writeOut(_ s: String) {
    var s = s
    s.withUTF8 { b in _ = fwrite(b.baseAddress, 1, b.count, stdout) }
    fflush(stdout)
}

func rate(_ n: Int, _ seconds: Double) -> String {
    seconds > 0 && n > 0 ? String(format1(Double(n) / seconds)) + " tok/s" : "-"
}

func format1(_ x: Double) -> String {
    let r = (x * 10).rounded() / 10
    return r == r.rounded() ? "\(Int(r)).0" : "\(r)"
}

func runCommand(_ argv: [String]) throws -> Int32 {
    let a = try Arguments(argv, valued: modelValued.union(samplingValued).union(["prompt", "file", "n-predict", "stop"]),
                          flags: ["parse-special", "no-prompt"], aliases: shortAliases)
    if a.flags.contains("help") { print(runUsage); return 0 }
    guard a.positional.isEmpty else { throw UsageError("run: unexpected argument '\(a.positional[0])'") }
    let prompt: String
    if let p = a.options["prompt"] { prompt = p }
    else if let f = a.options["file"] { prompt = try readText(f) }
    else { throw UsageError("run: give a prompt with -p TEXT or -f FILE") }
    let sp = try samplerParams(a)
    let n = try a.int("n-predict") ?? 128
    guard n >= -1 else { throw UsageError("--n-predict must be >= -1") }
    let (model, loadSeconds) = try loadModel(a)
    let tok = try requireTokenizer(model)
    let ctx = try model.makeContext(nCtx: try contextSize(a, model), kvType: try kvType(a))
    let sampler = try Sampler(vocabSize: model.hparams.vocabSize, params: sp)
    var gen = Generator()
    gen.maxTokens = n
    gen.stopStrings = a.repeated["stop"] ?? []
    let ids = tok.encode(prompt, addSpecial: true, parseSpecial: a.flags.contains("parse-special"))
    if !a.flags.contains("no-prompt") { writeOut(prompt) }
    let r = try gen.run(context: ctx, prompt: ids, sampler: sampler) { text, _ in
        writeOut(text)
        return true
    }
    writeOut("\n")
    printError("load \(Int(loadSeconds * 1000)) ms | prompt \(r.promptTokens) tokens, \(rate(r.promptTokens, r.prefillSeconds))"
               + " | generated \(r.generatedTokens) tokens, \(rate(r.generatedTokens, r.decodeSeconds))"
               + " | \(model.runtime.backend.name), \(model.runtime.threads) threads | finish: \(r.finish) | seed \(sampler.seed)")
    return 0
}

func perplexityCommand(_ argv: [String]) throws -> Int32 {
    let a = try Arguments(argv, valued: modelValued.union(["file", "chunk-size", "chunks"]), flags: ["json"],
                          aliases: shortAliases)
    if a.flags.contains("help") { print(perplexityUsage); return 0 }
    guard a.positional.isEmpty else { throw UsageError("perplexity: unexpected argument '\(a.positional[0])'") }
    guard let file = a.options["file"] else { throw UsageError("perplexity: give the text with -f FILE") }
    let text = try readText(file)
    let (model, _) = try loadModel(a)
    let tok = try requireTokenizer(model)
    let chunk = try a.int("chunk-size") ?? min(512, model.hparams.contextLength)
    guard chunk >= 2 else { throw UsageError("--chunk-size must be >= 2") }
    guard let bos = tok.bos else { throw BitternError.unsupported("perplexity needs a BOS token; the vocabulary has none") }
    let limit = try a.int("chunks")
    let ids = tok.encode(text, addSpecial: false, parseSpecial: false)
    let ctx = try model.makeContext(nCtx: chunk, logitsAll: true, kvType: try kvType(a))
    let t0 = now()
    let r = try Perplexity.evaluate(context: ctx, tokens: ids, bos: bos, chunkSize: chunk, maxChunks: limit)
    let seconds = now() - t0
    if a.flags.contains("json") {
        print(JSON.object([("perplexity", .double(r.perplexity)), ("nll_sum", .double(r.nllSum)),
                           ("tokens_scored", .int(r.scored)), ("chunks", .int(r.chunks)), ("chunk_size", .int(chunk)),
                           ("text_tokens", .int(ids.count)), ("head_type", .string(model.head.type.rawValue)),
                           ("kv_type", .string(ctx.cache.type.rawValue)), ("seconds", .double(seconds))]).serialized())
    } else {
        print("perplexity \(r.perplexity) over \(r.scored) tokens (\(r.chunks) chunks of up to \(chunk)); head \(model.head.type.rawValue), kv \(ctx.cache.type.rawValue); \(format1(seconds)) s")
    }
    return 0
}

func tokenizeCommand(_ argv: [String]) throws -> Int32 {
    let a = try Arguments(argv, valued: ["model", "prompt", "file"], flags: ["no-bos", "parse-special", "ids"],
                          aliases: shortAliases)
    if a.flags.contains("help") { print(tokenizeUsage); return 0 }
    guard a.positional.isEmpty else { throw UsageError("tokenize: unexpected argument '\(a.positional[0])'") }
    let text: String
    if let p = a.options["prompt"] { text = p }
    else if let f = a.options["file"] { text = try readText(f) }
    else { throw UsageError("tokenize: give the text with -p TEXT or -f FILE") }
    let path = try a.options["model"] ?? DefaultModel.path()
    let tok = try Tokenizer.load(try GGUFFile(path: path)) ?? { throw BitternError.unsupported("\(path) has no tokenizer") }()
    let ids = tok.encode(text, addSpecial: !a.flags.contains("no-bos"), parseSpecial: a.flags.contains("parse-special"))
    if a.flags.contains("ids") {
        print(ids.map(String.init).joined(separator: " "))
    } else {
        for t in ids { print("\(t)\t\(JSON.string(String(decoding: tok.piece(t), as: UTF8.self)).serialized())") }
    }
    return 0
}

func modelInfo(_ path: String, json: Bool) throws {
    let rt = try Runtime(RuntimeParams())
    let m = try BitNetModel(path: path, runtime: rt)
    if json { print(m.json.serialized(pretty: true)); return }
    let hp = m.hparams
    print("model \(path)")
    print("  architecture \(hp.architecture): \(hp.blockCount) layers, embedding \(hp.embeddingLength), ffn \(hp.feedForwardLength), heads \(hp.headCount) (kv \(hp.headCountKV)), vocab \(hp.vocabSize), context \(hp.contextLength)")
    var types = [String: Int]()
    for t in m.tensors { types[t.type.name, default: 0] += 1 }
    print("  tensors \(m.tensors.count): " + types.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
    print("  packed ternary weights \(m.packedBytes) bytes on backend \(rt.backend.name); head \(m.headTied ? "tied to token_embd" : "output.weight")")
    if let t = m.tokenizer {
        let kind: String
        switch t.kind {
        case .byteLevelBPE(let pre): kind = "byte-level BPE (pre-tokenizer \(pre.rawValue))"
        case .sentencePiece: kind = "SentencePiece BPE"
        }
        func name(_ id: Int32?) -> String { id.map { "\($0) \(String(decoding: t.piece($0), as: UTF8.self))" } ?? "none" }
        print("  tokenizer \(kind), \(t.count) tokens; BOS \(name(t.bos)), EOS \(name(t.eos)), EOT \(name(t.eot))")
    } else {
        print("  tokenizer: none")
    }
    if let j = m.chatTemplate {
        print("  chat template: \(ChatTemplate.detect(j)?.rawValue ?? "not recognised")")
    }
}

import Bittern
#if canImport(Glibc)
import Glibc
#endif

// convert (Hugging Face checkpoint -> GGUF) and quantize (GGUF -> GGUF in another type).

let convertUsage = """
usage: bittern convert HF_DIR -o OUT.gguf [options]

Converts a Hugging Face checkpoint directory (config.json, model.safetensors or a sharded
model.safetensors.index.json, tokenizer.json or a SentencePiece tokenizer.model, tokenizer_config.json)
to GGUF. Architectures:
BitNetForCausalLM (2B4T: bf16 master weights or the packed uint8 checkpoint with weight_scale),
BitnetForCausalLM (1bitLLM), LlamaForCausalLM with ternary weights. Master weights are
absmean-ternarized; weights that already are ternary are detected and kept exact.

  -o, --output FILE         the GGUF to write (written under a temporary name, renamed when complete)
      --type TYPE           ternary weights: i2_s (default), tq2_0, tq1_0, f16, f32
      --head TYPE           token embedding / head: f16 (default), q8 (Q8_0), f32
      --zero-threshold T    absmean threshold for master weights (default 0.5: round to nearest;
                            larger: more zeros, see bittern bench sparse)
      --arch NAME           general.architecture to write (default: bitnet for tq1_0/tq2_0, which
                            llama.cpp reads; bitnet-b1.58 otherwise, as bitnet.cpp; llama for Llama)
      --quiet               no per-tensor report
"""

let quantizeUsage = """
usage: bittern quantize IN.gguf OUT.gguf --type TYPE [options]

Re-encodes a model's ternary projections in another type (exact for ternary inputs; float-valued
weights are absmean-quantized), copying everything else. Prints the zero fraction and bits per weight
of each projection and in total.

      --type TYPE           i2_s, tq2_0, tq1_0, f16, f32
      --head TYPE           also re-encode token_embd/output: f16, q8 (Q8_0), f32 (default: keep)
      --zero-threshold T    absmean threshold for float-valued weights (default 0.5)
      --i2s-layout L        how to read I2_S input: x86 (default) or arm (bitnet.cpp ARM builds)
      --quiet               no per-tensor report
"""

func ggmlType(_ s: String, option: String, allowed: [GGMLType]) throws -> GGMLType {
    guard let t = TensorEncoders.type(named: s, in: allowed) else {
        throw UsageError("\(option): unknown type '\(s)' (\(TensorEncoders.names(allowed)))")
    }
    return t
}

/// A one-line progress display on a terminal.
func tensorProgress(_ label: String) -> ((Int, Int) -> Void)? {
    guard isatty(2) != 0 else { return nil }
    return { done, total in
        printError("\r\(label) \(done)/\(total) tensors", newline: done == total)
    }
}

func printReport(_ r: ConvertReport, verbose: Bool) {
    var ternaryElements = 0, ternaryBytes = 0, zeros = 0.0, allBytes = 0
    for t in r.tensors {
        allBytes += t.bytes
        if let z = t.zeroFraction {
            ternaryElements += t.elements
            ternaryBytes += t.bytes
            zeros += z * Double(t.elements)
            if verbose {
                print(pad(t.name, 28, left: true) + pad(t.type.name, 7, left: true)
                      + " zeros \(fmt(100 * z))%  \(fmt(8 * Double(t.bytes) / Double(t.elements), 3)) bits/weight"
                      + (t.exact == true ? "  (exact)" : "  (absmean)"))
            }
        } else if verbose {
            print(pad(t.name, 28, left: true) + pad(t.type.name, 7, left: true))
        }
    }
    let n = max(ternaryElements, 1)
    print("\(r.architecture): \(r.tensors.count) tensors, \(fmt(Double(allBytes) / 1_048_576)) MiB; ternary weights: "
          + "\(ternaryElements), zeros \(fmt(100 * zeros / Double(n)))%, \(fmt(8 * Double(ternaryBytes) / Double(n), 3)) bits/weight")
}

func convertCommand(_ argv: [String]) throws -> Int32 {
    let a = try Arguments(argv, valued: ["output", "type", "head", "zero-threshold", "arch"], flags: ["quiet"],
                          aliases: ["o": "output"])
    if a.flags.contains("help") { print(convertUsage); return 0 }
    guard a.positional.count == 1 else { throw UsageError("convert: expected one Hugging Face model directory") }
    guard let out = a.options["output"] else { throw UsageError("convert: give the output file with -o OUT.gguf") }
    var o = ConvertOptions()
    if let t = a.options["type"] { o.weightType = try ggmlType(t, option: "--type", allowed: TensorEncoders.weightTypes) }
    if let h = a.options["head"] { o.headType = try ggmlType(h, option: "--head", allowed: TensorEncoders.headTypes) }
    if let z = try a.float("zero-threshold") {
        guard z >= 0 else { throw UsageError("--zero-threshold must be >= 0") }
        o.zeroThreshold = z
    }
    o.architecture = a.options["arch"]
    let t0 = now()
    let r = try HFConverter.convert(directory: a.positional[0], output: out, options: o, progress: tensorProgress("converting"))
    printReport(r, verbose: !a.flags.contains("quiet"))
    print("wrote \(out) in \(fmt(now() - t0, 2)) s (tokenizer: \(r.tokenizerTokens) tokens)")
    return 0
}

func quantizeCommand(_ argv: [String]) throws -> Int32 {
    let a = try Arguments(argv, valued: ["type", "head", "zero-threshold", "i2s-layout"], flags: ["quiet"])
    if a.flags.contains("help") { print(quantizeUsage); return 0 }
    guard a.positional.count == 2 else { throw UsageError("quantize: expected IN.gguf OUT.gguf") }
    guard let t = a.options["type"] else { throw UsageError("quantize: give the type with --type") }
    let type = try ggmlType(t, option: "--type", allowed: TensorEncoders.weightTypes)
    let head = try a.options["head"].map { try ggmlType($0, option: "--head", allowed: TensorEncoders.headTypes) }
    let z = try a.float("zero-threshold") ?? Quantizer.defaultZeroThreshold
    guard z >= 0 else { throw UsageError("--zero-threshold must be >= 0") }
    var layout = I2SLayout.x86
    switch a.options["i2s-layout"] {
    case nil, "x86": break
    case "arm": layout = .arm
    case let v?: throw UsageError("--i2s-layout: unknown layout '\(v)' (x86, arm)")
    }
    let t0 = now()
    let r = try Requantizer.quantize(input: a.positional[0], output: a.positional[1], weightType: type, headType: head,
                                     zeroThreshold: z, i2sLayout: layout, progress: tensorProgress("quantizing"))
    printReport(r, verbose: !a.flags.contains("quiet"))
    print("wrote \(a.positional[1]) in \(fmt(now() - t0, 2)) s")
    return 0
}

#if canImport(Glibc)
import Glibc
#endif

/// `bittern quantize`: re-encodes a GGUF model's ternary projections (and optionally its embedding/head)
/// in another type. Ternary inputs convert exactly; float-valued projections go through absmean with the
/// given zero threshold. Every other tensor and all metadata are copied unchanged.
public enum Requantizer {
    /// Projections of the architectures Bittern runs: the tensors that hold ternary weights.
    static let projectionSuffixes = ["attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                                     "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"]

    public static func isProjection(_ name: String) -> Bool {
        name.hasPrefix("blk.") && projectionSuffixes.contains { name.hasSuffix("." + $0) }
    }

    /// `headType` nil keeps token_embd/output as they are.
    public static func quantize(input: String, output: String, weightType: GGMLType, headType: GGMLType?,
                                zeroThreshold: Float = Quantizer.defaultZeroThreshold, i2sLayout: I2SLayout = .x86,
                                progress: ((Int, Int) -> Void)? = nil) throws -> ConvertReport {
        guard TensorEncoders.weightTypes.contains(weightType) else {
            throw BitternError.invalidArgument("weight type \(weightType.name) is not a ternary type (i2_s, tq1_0, tq2_0, f16, f32)")
        }
        if let h = headType, !TensorEncoders.headTypes.contains(h) {
            throw BitternError.invalidArgument("head type \(h.name) is not one of f16, q8_0, f32")
        }
        guard realPath(input) != realPath(output) else {
            throw BitternError.invalidArgument("the output would overwrite the input '\(input)'")
        }
        let f = try GGUFFile(path: input)
        _ = try Hyperparameters(gguf: f)   // refuse files Bittern could not run before spending time on them
        let w = GGUFWriter(path: output, alignment: f.alignment)
        for k in f.keys where k != "general.alignment" {
            if let v = f.value(k) { w.set(k, v) }
        }
        if w.metadata.contains(where: { $0.0 == "general.file_type" }) {
            w.set("general.file_type", .uint32(HFConverter.fileType(weightType)))
        }
        var report = ConvertReport()
        report.architecture = ((try? f.string("general.architecture")) ?? nil) ?? ""
        var decode = TernaryDecodeOptions()
        decode.zeroThreshold = zeroThreshold
        decode.i2sLayout = i2sLayout
        for t in f.tensors {
            let index = report.tensors.count
            if isProjection(t.name) {
                if let why = TensorEncoders.ternaryUnsupportedReason(weightType, cols: t.cols) {
                    throw BitternError.unsupported("tensor '\(t.name)': \(why)")
                }
                let bytes = try weightType.byteSize(dims: t.dims, tensor: t.name)
                report.tensors.append(.init(name: t.name, type: weightType, elements: t.elementCount, bytes: bytes,
                                            zeroFraction: nil, exact: nil))
                try w.addTensor(t.name, dims: t.dims, type: weightType) {
                    let c = try f.ternary(t.name, options: decode)
                    f.releasePages(of: t)
                    let old = report.tensors[index]
                    report.tensors[index] = .init(name: old.name, type: old.type, elements: old.elements, bytes: old.bytes,
                                                  zeroFraction: Double(c.zeroCount) / Double(max(1, t.elementCount)), exact: c.exact)
                    return try TensorEncoders.encodeTernary(c, as: weightType, name: t.name)
                }
            } else if let h = headType, t.name == "token_embd.weight" || t.name == "output.weight", t.type != h {
                if h.blockSize > 1, t.cols % h.blockSize != 0 {
                    throw BitternError.unsupported("tensor '\(t.name)': \(h.name) needs rows of a multiple of \(h.blockSize) values, these have \(t.cols)")
                }
                report.tensors.append(.init(name: t.name, type: h, elements: t.elementCount,
                                            bytes: try h.byteSize(dims: t.dims, tensor: t.name), zeroFraction: nil, exact: nil))
                try w.addTensor(t.name, dims: t.dims, type: h) {
                    let b = try TensorEncoders.encodeFloats(try f.floats(t.name), cols: t.cols, as: h, name: t.name)
                    f.releasePages(of: t)
                    return b
                }
            } else {
                report.tensors.append(.init(name: t.name, type: t.type, elements: t.elementCount, bytes: t.byteCount,
                                            zeroFraction: nil, exact: nil))
                try w.addTensor(t.name, dims: t.dims, type: t.type) { [UInt8](f.bytes(of: t)) }
            }
        }
        try w.write(progress: progress)
        return report
    }

    static func realPath(_ p: String) -> String {
        guard let r = realpath(p, nil) else { return p }
        defer { free(r) }
        return String(cString: r)
    }
}

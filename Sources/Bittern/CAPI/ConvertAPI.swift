import BitternSupport

// bittern_convert and bittern_quantize: the converters behind `bittern convert` / `bittern quantize`.

@_cdecl("bittern_convert_default_params")
public func bittern_convert_default_params() -> bittern_convert_params {
    bittern_convert_params(size: UInt32(MemoryLayout<bittern_convert_params>.size), weight_type: nil, head_type: nil,
                           zero_threshold: Quantizer.defaultZeroThreshold, architecture: nil)
}

/// The params' type names, checked.
private struct ConvertSetup {
    var weightType = GGMLType.i2_s
    var headType: GGMLType?
    var zeroThreshold = Quantizer.defaultZeroThreshold
    var architecture: String?

    init(_ params: UnsafePointer<bittern_convert_params>?) throws {
        let p = try readParams(params, defaults: bittern_convert_default_params(), what: "bittern_convert_params")
        func type(_ s: UnsafePointer<CChar>?, _ what: String, _ allowed: [GGMLType]) throws -> GGMLType? {
            guard let s else { return nil }
            let name = String(cString: s)
            guard let t = TensorEncoders.type(named: name, in: allowed) else {
                throw BitternError.invalidArgument("\(what) '\(name)' is not one of \(TensorEncoders.names(allowed))")
            }
            return t
        }
        weightType = try type(p.weight_type, "weight_type", TensorEncoders.weightTypes) ?? .i2_s
        headType = try type(p.head_type, "head_type", TensorEncoders.headTypes)
        guard p.zero_threshold.isFinite, p.zero_threshold >= 0 else {
            throw BitternError.invalidArgument("zero_threshold must be a finite value >= 0 (got \(p.zero_threshold))")
        }
        zeroThreshold = p.zero_threshold
        architecture = p.architecture.map { String(cString: $0) }
    }
}

@_cdecl("bittern_convert")
public func bittern_convert(_ dir: UnsafePointer<CChar>?, _ out: UnsafePointer<CChar>?,
                            _ params: UnsafePointer<bittern_convert_params>?) -> Int32 {
    capiStatus {
        let d = try requireString(dir, "hf_dir"), o = try requireString(out, "out_path")
        let s = try ConvertSetup(params)
        var opt = ConvertOptions()
        opt.weightType = s.weightType
        opt.headType = s.headType ?? .f16
        opt.zeroThreshold = s.zeroThreshold
        opt.architecture = s.architecture
        _ = try HFConverter.convert(directory: d, output: o, options: opt)
    }
}

@_cdecl("bittern_quantize")
public func bittern_quantize(_ input: UnsafePointer<CChar>?, _ out: UnsafePointer<CChar>?,
                             _ params: UnsafePointer<bittern_convert_params>?) -> Int32 {
    capiStatus {
        let i = try requireString(input, "in_path"), o = try requireString(out, "out_path")
        let s = try ConvertSetup(params)
        guard s.architecture == nil else { throw BitternError.invalidArgument("architecture is for bittern_convert only") }
        _ = try Requantizer.quantize(input: i, output: o, weightType: s.weightType, headType: s.headType,
                                     zeroThreshold: s.zeroThreshold)
    }
}

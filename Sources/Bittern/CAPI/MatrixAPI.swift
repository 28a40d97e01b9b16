import BitternSupport

@_cdecl("bittern_quant_default_params")
public func bittern_quant_default_params() -> bittern_quant_params {
    bittern_quant_params(size: UInt32(MemoryLayout<bittern_quant_params>.size),
                         zero_threshold: Quantizer.defaultZeroThreshold)
}

@_cdecl("bittern_matrix_from_f32")
public func bittern_matrix_from_f32(_ rt: OpaquePointer?, _ w: UnsafePointer<Float>?, _ rows: Int, _ cols: Int,
                                    _ params: UnsafePointer<bittern_quant_params>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let w = try require(w, "w")
        let p = try readParams(params, defaults: bittern_quant_default_params(), what: "bittern_quant_params")
        try TernaryMatrix.checkShape(rows: rows, cols: cols)
        let m = try TernaryMatrix(runtime: try runtime(rt), weights: w, rows: rows, cols: cols,
                                  zeroThreshold: p.zero_threshold)
        out.pointee = Handles.register(m, as: .matrix)
    }
}

@_cdecl("bittern_matrix_from_trits")
public func bittern_matrix_from_trits(_ rt: OpaquePointer?, _ trits: UnsafePointer<Int8>?, _ rows: Int, _ cols: Int,
                                      _ alpha: Float, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let t = try require(trits, "trits")
        let m = try TernaryMatrix(runtime: try runtime(rt), trits: t, rows: rows, cols: cols, alpha: alpha)
        out.pointee = Handles.register(m, as: .matrix)
    }
}

func matrix(_ m: OpaquePointer?) throws -> TernaryMatrix {
    try Handles.resolve(m, as: TernaryMatrix.self, kind: .matrix, what: "matrix")
}

@_cdecl("bittern_matrix_gemv_f32")
public func bittern_matrix_gemv_f32(_ m: OpaquePointer?, _ x: UnsafePointer<Float>?,
                                    _ y: UnsafeMutablePointer<Float>?) -> Int32 {
    capiStatus { try matrix(m).multiplyFloat(try require(x, "x"), n: 1, into: try require(y, "y")) }
}

@_cdecl("bittern_matrix_gemm_f32")
public func bittern_matrix_gemm_f32(_ m: OpaquePointer?, _ x: UnsafePointer<Float>?, _ n: Int,
                                    _ y: UnsafeMutablePointer<Float>?) -> Int32 {
    capiStatus { try matrix(m).multiplyFloat(try require(x, "x"), n: n, into: try require(y, "y")) }
}

@_cdecl("bittern_matrix_gemv_i8")
public func bittern_matrix_gemv_i8(_ m: OpaquePointer?, _ x: UnsafePointer<Int8>?,
                                   _ y: UnsafeMutablePointer<Int32>?) -> Int32 {
    capiStatus { try matrix(m).multiplyInt8(try require(x, "x"), n: 1, into: try require(y, "y")) }
}

@_cdecl("bittern_matrix_gemm_i8")
public func bittern_matrix_gemm_i8(_ m: OpaquePointer?, _ x: UnsafePointer<Int8>?, _ n: Int,
                                   _ y: UnsafeMutablePointer<Int32>?) -> Int32 {
    capiStatus { try matrix(m).multiplyInt8(try require(x, "x"), n: n, into: try require(y, "y")) }
}

@_cdecl("bittern_matrix_shape")
public func bittern_matrix_shape(_ m: OpaquePointer?, _ rows: UnsafeMutablePointer<Int>?,
                                 _ cols: UnsafeMutablePointer<Int>?, _ alpha: UnsafeMutablePointer<Float>?) -> Int32 {
    capiStatus {
        let mat = try matrix(m)
        rows?.pointee = mat.rows
        cols?.pointee = mat.cols
        alpha?.pointee = mat.alpha
    }
}

@_cdecl("bittern_matrix_describe")
public func bittern_matrix_describe(_ m: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    do { return capiString(try matrix(m).json.serialized()) } catch { capiFail(error); return nil }
}

@_cdecl("bittern_matrix_free")
public func bittern_matrix_free(_ m: OpaquePointer?) {
    Handles.release(m, kind: .matrix)
}

import BitternSupport

@_cdecl("bittern_runtime_default_params")
public func bittern_runtime_default_params() -> bittern_runtime_params {
    bittern_runtime_params(size: UInt32(MemoryLayout<bittern_runtime_params>.size), n_threads: 0,
                           backend: nil, numa_policy: nil, topology: nil, use_smt: 0)
}

@_cdecl("bittern_runtime_create")
public func bittern_runtime_create(_ params: UnsafePointer<bittern_runtime_params>?,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let p = try readParams(params, defaults: bittern_runtime_default_params(), what: "bittern_runtime_params")
        var rp = RuntimeParams()
        rp.threads = Int(p.n_threads)
        rp.backend = p.backend.map { String(cString: $0) }
        rp.numaPolicy = p.numa_policy.map { String(cString: $0) }
        rp.topology = p.topology.map { String(cString: $0) }
        rp.useSMT = p.use_smt != 0
        out.pointee = Handles.register(try Runtime(rp), as: .runtime)
    }
}

@_cdecl("bittern_runtime_free")
public func bittern_runtime_free(_ rt: OpaquePointer?) {
    Handles.release(rt, kind: .runtime)
}

/// The runtime behind a handle; NULL means the process-wide default runtime.
func runtime(_ rt: OpaquePointer?) throws -> Runtime {
    guard let rt else { return try Runtime.shared() }
    return try Handles.resolve(rt, as: Runtime.self, kind: .runtime, what: "runtime")
}

@_cdecl("bittern_runtime_describe")
public func bittern_runtime_describe(_ rt: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    do { return capiString(try runtime(rt).json.serialized()) } catch { capiFail(error); return nil }
}

@_cdecl("bittern_runtime_backend")
public func bittern_runtime_backend(_ rt: OpaquePointer?) -> UnsafePointer<CChar>? {
    do { return try runtime(rt).backend.cName } catch { capiFail(error); return nil }
}

@_cdecl("bittern_runtime_n_threads")
public func bittern_runtime_n_threads(_ rt: OpaquePointer?) -> Int32 {
    do { return Int32(try runtime(rt).threads) } catch { capiFail(error); return -1 }
}

#if canImport(Glibc)
import Glibc
#endif
import BitternSupport

// Versions, errors, strings and backends: the C functions that need no handle.

@_cdecl("bittern_version")
public func bittern_version() -> UnsafePointer<CChar> {
    UnsafeRawPointer(Version.cString.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("bittern_abi_version")
public func bittern_abi_version() -> UInt32 { Version.abi }

@_cdecl("bittern_last_error")
public func bittern_last_error() -> UnsafePointer<CChar> { bts_last_error() }

@_cdecl("bittern_last_status")
public func bittern_last_status() -> Int32 { Int32(bts_last_status()) }

@_cdecl("bittern_string_free")
public func bittern_string_free(_ s: UnsafeMutablePointer<CChar>?) { free(s) }

@_cdecl("bittern_backend_count")
public func bittern_backend_count() -> Int { BackendRegistry.shared.backends.count }

@_cdecl("bittern_backend_name")
public func bittern_backend_name(_ index: Int) -> UnsafePointer<CChar>? {
    let list = BackendRegistry.shared.backends
    return index >= 0 && index < list.count ? list[index].cName : nil
}

@_cdecl("bittern_backend_supported")
public func bittern_backend_supported(_ index: Int) -> Bool {
    let list = BackendRegistry.shared.backends
    return index >= 0 && index < list.count && list[index].isSupported()
}

@_cdecl("bittern_plugin_load")
public func bittern_plugin_load(_ path: UnsafePointer<CChar>?) -> Int32 {
    capiStatus {
        let p = try requireString(path, "path")
        try BackendRegistry.shared.load(pluginAt: p)
    }
}

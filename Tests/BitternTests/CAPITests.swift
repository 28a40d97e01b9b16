import Testing
@testable import Bittern
import BitternSupport
import BitternKernels
#if canImport(Glibc)
import Glibc
#endif

/// The C functions, under short names (the imported C declarations would make bare names ambiguous).
enum C {
    static let abi_version = Bittern.bittern_abi_version
    static let backend_count = Bittern.bittern_backend_count
    static let backend_name = Bittern.bittern_backend_name
    static let backend_supported = Bittern.bittern_backend_supported
    static let last_error = Bittern.bittern_last_error
    static let matrix_describe = Bittern.bittern_matrix_describe
    static let matrix_free = Bittern.bittern_matrix_free
    static let matrix_from_f32 = Bittern.bittern_matrix_from_f32
    static let matrix_from_trits = Bittern.bittern_matrix_from_trits
    static let matrix_gemv_f32 = Bittern.bittern_matrix_gemv_f32
    static let matrix_gemv_i8 = Bittern.bittern_matrix_gemv_i8
    static let matrix_shape = Bittern.bittern_matrix_shape
    static let plugin_load = Bittern.bittern_plugin_load
    static let runtime_create = Bittern.bittern_runtime_create
    static let runtime_default_params = Bittern.bittern_runtime_default_params
    static let runtime_describe = Bittern.bittern_runtime_describe
    static let runtime_free = Bittern.bittern_runtime_free
    static let runtime_n_threads = Bittern.bittern_runtime_n_threads
    static let string_free = Bittern.bittern_string_free
    static let version = Bittern.bittern_version
}

/// The @_cdecl layer, called as C would call it: status codes, messages, params sizes, handles.
@Suite struct CAPITests {
    func lastError() -> String { String(cString: C.last_error()) }

    @Test func versionsAgree() {
        #expect(String(cString: C.version()) == Version.string)
        #expect(C.abi_version() == Version.abi)
    }

    @Test func backendListing() {
        let n = C.backend_count()
        #expect(n >= 1)
        #expect(String(cString: C.backend_name(0)!) == "scalar")
        #expect(C.backend_supported(0))
        #expect(C.backend_name(n) == nil)
        #expect(!C.backend_supported(n))
        #expect(!C.backend_supported(-1))
    }

    @Test func paramsSizeRules() {
        var out: OpaquePointer?
        var p = C.runtime_default_params()
        p.size = 0
        #expect(C.runtime_create(&p, &out) == Status.invalidArgument)
        #expect(lastError().contains("size"))
        p.size = UInt32(MemoryLayout<bittern_runtime_params>.size + 8)
        #expect(C.runtime_create(&p, &out) == Status.invalidArgument)
        // An older, smaller struct: only n_threads known; the rest defaults.
        p = C.runtime_default_params()
        p.size = 8
        p.n_threads = 1
        p.backend = nil
        #expect(C.runtime_create(&p, &out) == Status.ok)
        #expect(C.runtime_n_threads(out) == 1)
        C.runtime_free(out)
    }

    @Test func handlesAreCheckedBeforeUse() throws {
        var out: OpaquePointer?
        #expect(C.matrix_from_trits(nil, [1, 0, -1], 1, 3, 1, &out) == Status.ok)
        let m = try #require(out)
        var y: [Int32] = [0]
        #expect(C.matrix_gemv_i8(m, [3, 5, 7], &y) == Status.ok)
        #expect(y == [-4])
        C.matrix_free(m)
        // freed: refused, not dereferenced
        #expect(C.matrix_gemv_i8(m, [3, 5, 7], &y) == Status.invalidArgument)
        #expect(lastError().contains("not a live matrix"))
        // handles are never reused: new matrices (likely at the freed one's address) leave the old handle dead
        var later: [OpaquePointer] = []
        for _ in 0..<8 {
            var o: OpaquePointer?
            #expect(C.matrix_from_trits(nil, [1, 0, -1], 1, 3, 1, &o) == Status.ok)
            later.append(try #require(o))
        }
        #expect(!later.contains(m))
        #expect(C.matrix_gemv_i8(m, [3, 5, 7], &y) == Status.invalidArgument)
        later.forEach { C.matrix_free($0) }
        // a runtime handle passed as a matrix
        var rt: OpaquePointer?
        #expect(C.runtime_create(nil, &rt) == Status.ok)
        #expect(C.matrix_describe(rt) == nil)
        #expect(C.runtime_describe(OpaquePointer(bitPattern: 0x1000)) == nil)
        C.runtime_free(rt)
        C.runtime_free(nil)
        C.matrix_free(nil)
        C.string_free(nil)
    }

    @Test func nullArgumentsAreErrors() {
        var out: OpaquePointer?
        let w: [Float] = [1, 2]
        #expect(C.matrix_from_f32(nil, nil, 1, 2, nil, &out) == Status.invalidArgument)
        #expect(C.matrix_from_f32(nil, w, 1, 2, nil, nil) == Status.invalidArgument)
        #expect(C.matrix_from_f32(nil, w, 0, 2, nil, &out) == Status.invalidArgument)
        #expect(C.matrix_from_f32(nil, w, -1, 2, nil, &out) == Status.invalidArgument)
        #expect(C.runtime_create(nil, nil) == Status.invalidArgument)
        #expect(C.plugin_load(nil) == Status.invalidArgument)
        #expect(C.matrix_gemv_f32(nil, w, nil) == Status.invalidArgument)
        #expect(C.matrix_shape(nil, nil, nil, nil) == Status.invalidArgument)
    }

    @Test func successLeavesTheMessageAlone() {
        var out: OpaquePointer?
        #expect(C.plugin_load(nil) == Status.invalidArgument)
        let before = lastError()
        #expect(C.matrix_from_trits(nil, [1], 1, 1, 1, &out) == Status.ok)
        #expect(lastError() == before)
        C.matrix_free(out)
    }

    @Test func pluginErrorsAreClassified() {
        #expect(C.plugin_load("/nonexistent/plugin.so") == Status.io)
        // libc is a shared object without the entry point
        #expect(C.plugin_load("libc.so.6") == Status.format)
    }
}

/// Descriptor validation, without any shared object: the checks run before any field is trusted.
@Suite struct PluginValidationTests {
    func descriptor(abi: UInt32 = 1, size: UInt32? = nil, name: String = "scalar_test") -> UnsafeMutablePointer<bittern_kernel_backend> {
        let d = UnsafeMutablePointer<bittern_kernel_backend>.allocate(capacity: 1)
        d.pointee = BackendRegistry.shared.backend(named: "scalar")!.descriptor.pointee
        d.pointee.abi_version = abi
        d.pointee.struct_size = size ?? UInt32(MemoryLayout<bittern_kernel_backend>.size)
        d.pointee.name = UnsafePointer(strdup(name))
        return d
    }

    func status(_ d: UnsafeMutablePointer<bittern_kernel_backend>) -> Int32 {
        do { _ = try BackendRegistry.validate(d, path: "test"); return Status.ok } catch let e as BitternError {
            return e.status
        } catch { return Status.internalError }
    }

    @Test func checksHeaderThenContents() {
        #expect(status(descriptor()) == Status.ok)
        #expect(status(descriptor(abi: 2)) == Status.unsupported)
        #expect(status(descriptor(size: 16)) == Status.unsupported)
        #expect(status(descriptor(name: "Bad-Name")) == Status.format)
        #expect(status(descriptor(name: "")) == Status.format)
        let d = descriptor()
        d.pointee.gemv = nil
        #expect(status(d) == Status.format)
    }
}

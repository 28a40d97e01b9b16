import BitternKernels
#if canImport(Glibc)
import Glibc
#endif

/// Every backend known to the process: the built-ins first, then plugins in load order (indices are
/// stable: plugins only append). Plugins named in BITTERN_PLUGIN_PATH load on first use.
public final class BackendRegistry: @unchecked Sendable {
    public static let shared = BackendRegistry()

    private let lock = Lock()
    private var list: [Backend] = []
    private var envErrors: [String] = []
    private var started = false

    private init() {}

    private func startLocked() {
        guard !started else { return }
        started = true
        for i in 0..<btk_builtin_count() {
            if let d = btk_builtin(i) { list.append(Backend(descriptor: d, origin: "built-in")) }
        }
        guard let path = environment("BITTERN_PLUGIN_PATH") else { return }
        for entry in path.split(separator: ":").map(String.init) {
            for file in BackendRegistry.pluginFiles(entry) {
                do { try loadLocked(file) } catch let e as BitternError {
                    envErrors.append(e.message)
                } catch {
                    envErrors.append("\(file): \(error)")
                }
            }
        }
    }

    /// A file is itself; a directory yields its *.so files, sorted (deterministic order).
    static func pluginFiles(_ entry: String) -> [String] {
        guard let dir = opendir(entry) else { return [entry] }
        defer { closedir(dir) }
        var files: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasSuffix(".so") { files.append(entry + "/" + name) }
        }
        return files.sorted()
    }

    public var backends: [Backend] { lock.withLock { startLocked(); return list } }

    /// Plugins from BITTERN_PLUGIN_PATH that failed to load, with the reason.
    public var pluginErrors: [String] { lock.withLock { startLocked(); return envErrors } }

    public func backend(named name: String) -> Backend? { backends.first { $0.name == name } }

    /// Loads a kernel plugin (see bittern_plugin_load in bittern.h for the error contract).
    @discardableResult
    public func load(pluginAt path: String) throws -> Backend {
        try lock.withLock {
            startLocked()
            return try loadLocked(path)
        }
    }

    @discardableResult
    private func loadLocked(_ path: String) throws -> Backend {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw BitternError.io("plugin '\(path)': cannot load: \(why)")
        }
        var keep = false
        defer { if !keep { dlclose(handle) } }
        guard let sym = dlsym(handle, BITTERN_KERNEL_PLUGIN_ENTRY) else {
            throw BitternError.format(
                "plugin '\(path)': not a Bittern kernel plugin (no \(BITTERN_KERNEL_PLUGIN_ENTRY) symbol)")
        }
        typealias Entry = @convention(c) (UInt32) -> UnsafePointer<bittern_kernel_backend>?
        let entry = unsafeBitCast(sym, to: Entry.self)
        let hostABI = UInt32(BITTERN_KERNEL_ABI_VERSION)
        guard let d = entry(hostABI) else {
            throw BitternError.unsupported("plugin '\(path)': declined kernel ABI version \(hostABI)")
        }
        let descriptor = try BackendRegistry.validate(d, path: path)
        if list.contains(where: { $0.name == descriptor.name }) {
            throw BitternError.invalidArgument(
                "plugin '\(path)': a backend named '\(descriptor.name)' is already registered")
        }
        keep = true
        list.append(descriptor)
        return descriptor
    }

    /// Checks a descriptor's header before touching any other field, then its contents.
    static func validate(_ d: UnsafePointer<bittern_kernel_backend>, path: String) throws -> Backend {
        let hostABI = UInt32(BITTERN_KERNEL_ABI_VERSION)
        // Read the two header fields alone: a plugin of another ABI may have a different layout.
        let raw = UnsafeRawPointer(d)
        let abi = raw.loadUnaligned(as: UInt32.self)
        let size = raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        guard abi == hostABI else {
            throw BitternError.unsupported(
                "plugin '\(path)': built for kernel ABI version \(abi), this library speaks version \(hostABI)")
        }
        let need = MemoryLayout<bittern_kernel_backend>.size
        guard Int(size) >= need else {
            throw BitternError.unsupported(
                "plugin '\(path)': descriptor struct_size \(size) is smaller than the \(need) bytes of ABI \(hostABI)")
        }
        let desc = d.pointee
        guard let cname = desc.name else { throw BitternError.format("plugin '\(path)': backend has no name") }
        let name = String(cString: cname)
        guard isValidName(name) else {
            throw BitternError.format(
                "plugin '\(path)': backend name '\(name)' is invalid (lower-case letters, digits, '_'; 1-63 characters, starting with a letter)")
        }
        guard desc.packed_size != nil, desc.pack != nil, desc.gemv != nil, desc.gemm != nil else {
            throw BitternError.format("plugin '\(path)': backend '\(name)' lacks packed_size, pack, gemv or gemm")
        }
        if (desc.prepare != nil) && (desc.scratch_size == nil) {
            throw BitternError.format("plugin '\(path)': backend '\(name)' has prepare but no scratch_size")
        }
        return Backend(descriptor: d, origin: path)
    }

    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, (97...122).contains(first) else { return false }
        return bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
    }
}

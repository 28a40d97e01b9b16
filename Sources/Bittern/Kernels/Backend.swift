import BitternKernels
#if canImport(Glibc)
import Glibc
#endif

/// One kernel backend: a validated descriptor (built-in or from a plugin) plus what the host knows
/// about it. Descriptors live in static storage (built-ins) or in plugins that are never unloaded.
public final class Backend: @unchecked Sendable {
    public let descriptor: UnsafePointer<bittern_kernel_backend>
    public let name: String
    /// The name as a C string in storage that lives until process exit (bittern_backend_name).
    public let cName: UnsafePointer<CChar>
    public let summary: String
    public let priority: Int32
    public let requiredFeatures: UInt64
    /// "built-in" or the path of the plugin it came from.
    public let origin: String
    /// A zero-skipping format: chosen per matrix by zero fraction, never as the dense default.
    public let isSparse: Bool

    init(descriptor: UnsafePointer<bittern_kernel_backend>, origin: String) {
        self.descriptor = descriptor
        let d = descriptor.pointee
        name = String(cString: d.name)
        cName = UnsafePointer(strdup(d.name)!)
        summary = d.description.map { String(cString: $0) } ?? ""
        priority = d.priority
        requiredFeatures = d.required_features
        self.origin = origin
        isSparse = d.flags & UInt32(BITTERN_KERNEL_FLAG_SPARSE) != 0
    }

    public func isSupported(on features: CPUFeatures = .host) -> Bool { features.contains(requiredFeatures) }

    /// Why the backend cannot run here, or nil when it can.
    public func unsupportedReason(on features: CPUFeatures = .host) -> String? {
        let missing = requiredFeatures & ~features.bits
        guard missing != 0 else { return nil }
        let names = CPUFeatures.names(of: missing)
        return "needs " + (names.isEmpty ? "CPU features this build cannot name" : names.joined(separator: ", "))
            + " (not available on this CPU/OS)"
    }
}

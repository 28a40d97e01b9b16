import BitternKernels

/// The CPU features this process may use (instruction set AND operating-system support), from the C
/// probe in BitternKernels/cpu_features.c.
public struct CPUFeatures: Equatable, Sendable {
    public let bits: UInt64

    public init(bits: UInt64) { self.bits = bits }

    /// The features of the machine we are running on (probed once).
    public static let host = CPUFeatures(bits: btk_cpu_features())

    public static var brand: String { String(cString: btk_cpu_brand()) }

    public var names: [String] { CPUFeatures.names(of: bits) }

    public func contains(_ required: UInt64) -> Bool { bits & required == required }

    /// Names of the bits in `mask`, lowest first.
    public static func names(of mask: UInt64) -> [String] {
        (0..<64).compactMap { bit -> String? in
            guard mask & (1 << UInt64(bit)) != 0, let n = btk_cpu_feature_name(UInt32(bit)) else { return nil }
            return String(cString: n)
        }
    }
}

/// An error that maps one-to-one onto a C status code and message (see include/bittern.h).
public struct BitternError: Error, CustomStringConvertible, Equatable {
    public let status: Int32
    public let message: String

    public init(_ status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }

    public static func invalidArgument(_ m: String) -> BitternError { .init(Status.invalidArgument, m) }
    public static func io(_ m: String) -> BitternError { .init(Status.io, m) }
    public static func format(_ m: String) -> BitternError { .init(Status.format, m) }
    public static func unsupported(_ m: String) -> BitternError { .init(Status.unsupported, m) }
    public static func outOfMemory(_ m: String) -> BitternError { .init(Status.outOfMemory, m) }
    public static func `internal`(_ m: String) -> BitternError { .init(Status.internalError, m) }
}

/// The status codes of bittern.h, mirrored as Swift constants.
public enum Status {
    public static let ok: Int32 = 0
    public static let invalidArgument: Int32 = -1
    public static let io: Int32 = -2
    public static let format: Int32 = -3
    public static let unsupported: Int32 = -4
    public static let outOfMemory: Int32 = -5
    public static let internalError: Int32 = -6
    public static let contextFull: Int32 = -7
    public static let aborted: Int32 = -8
}

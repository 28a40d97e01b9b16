#if canImport(Glibc)
import Glibc
#endif
import BitternSupport

/// The table of live handles given to C callers. A handle is a number, not an object's address: numbers
/// are never reused, so a freed handle stays invalid even after its memory hosts a new object, and a
/// pointer that is not in the table (never created, freed, or of another type) is refused without being
/// dereferenced: misuse is an error, not a crash or a read of freed memory.
enum Handles {
    enum Kind { case runtime, matrix, model, context, sampler, detokenizer }

    private static let lock = Lock()
    nonisolated(unsafe) private static var live: [UInt: (kind: Kind, object: AnyObject)] = [:]
    /// The next handle value: 16-aligned, in a range no allocator hands out on the supported platforms.
    nonisolated(unsafe) private static var next: UInt = 0x0B17_0000_0000_0010

    static func register(_ object: AnyObject, as kind: Kind) -> OpaquePointer {
        lock.withLock {
            let id = next
            next += 16
            live[id] = (kind, object)
            return OpaquePointer(bitPattern: id)!
        }
    }

    /// The object behind a handle, as a new strong reference (so a concurrent free cannot pull it away).
    static func resolve<T: AnyObject>(_ handle: OpaquePointer?, as: T.Type, kind: Kind, what: String) throws -> T {
        guard let handle else { throw BitternError.invalidArgument("\(what) is NULL") }
        let id = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        return try lock.withLock {
            guard let entry = live[id], entry.kind == kind, let object = entry.object as? T else {
                throw BitternError.invalidArgument("\(what) is not a live \(kind) handle (freed, or never created)")
            }
            return object
        }
    }

    /// Drops the caller's reference. Returns false (and does nothing) for an unknown handle.
    @discardableResult
    static func release(_ handle: OpaquePointer?, kind: Kind) -> Bool {
        guard let handle else { return true }
        let id = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let removed: AnyObject? = lock.withLock {
            guard let entry = live[id], entry.kind == kind else { return nil }
            live[id] = nil
            return entry.object
        }
        // The object's deinit (possibly the last reference to a model) runs here, outside the lock.
        return withExtendedLifetime(removed) { removed != nil }
    }
}

/// Runs a C API body: success returns BITTERN_OK; a thrown error sets this thread's message and
/// returns its status. Nothing thrown ever crosses into C.
func capiStatus(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return Status.ok
    } catch {
        return capiFail(error)
    }
}

/// Records an error as this thread's message and returns its status.
@discardableResult
func capiFail(_ error: Error) -> Int32 {
    if let e = error as? BitternError {
        bts_set_error(e.message)
        bts_set_status(e.status)
        return e.status
    }
    bts_set_error("internal error: \(error)")
    bts_set_status(Status.internalError)
    return Status.internalError
}

/// A new C string (malloc'ed; freed by bittern_string_free).
func capiString(_ s: String) -> UnsafeMutablePointer<CChar>? {
    s.withCString { strdup($0) }
}

/// Reads a params struct that starts with a uint32 `size`: NULL means `defaults`; a smaller size (an
/// older header) keeps the defaults of the fields it does not cover; 0 or a larger size is an error.
func readParams<P>(_ p: UnsafePointer<P>?, defaults: P, what: String) throws -> P {
    guard let p else { return defaults }
    let size = Int(UnsafeRawPointer(p).load(as: UInt32.self))
    let known = MemoryLayout<P>.size
    guard size > 0, size <= known else {
        throw BitternError.invalidArgument(
            "\(what).size is \(size); expected 1...\(known) (set it with the *_default_params() function)")
    }
    var result = defaults
    withUnsafeMutableBytes(of: &result) { dst in
        dst.baseAddress!.copyMemory(from: UnsafeRawPointer(p), byteCount: size)
    }
    return result
}

/// A C string argument that must not be NULL.
func requireString(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
    guard let p else { throw BitternError.invalidArgument("\(what) is NULL") }
    return String(cString: p)
}

/// A pointer argument that must not be NULL.
func require<T>(_ p: T?, _ what: String) throws -> T {
    guard let p else { throw BitternError.invalidArgument("\(what) is NULL") }
    return p
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A zero-filled buffer of `count` plain values with an explicit free: scratch whose disjoint parts
/// several workers write at once (Swift arrays held by a class cannot be shared that way).
struct Buffer<T> {
    let p: UnsafeMutablePointer<T>
    let count: Int

    init(_ count: Int = 0) {
        self.count = count
        // calloc, not allocate+initialize: zero is a valid value of every type this holds (Float, Int32).
        p = calloc(max(count, 1), MemoryLayout<T>.stride)!.bindMemory(to: T.self, capacity: max(count, 1))
    }

    func free() { releaseBuffer(p) }
}

// At file scope, where `free` is the C function (inside Buffer it is the method).
private func releaseBuffer(_ p: UnsafeMutableRawPointer) { free(p) }

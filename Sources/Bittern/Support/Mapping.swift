#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only private mapping of a whole file (GGUF, safetensors), unmapped when released.
final class Mapping {
    let base: UnsafeRawPointer
    let length: Int

    /// `kind` names what the file should be, for the message about an empty file.
    init(path: String, kind: String = "GGUF") throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BitternError.io("cannot open '\(path)': \(Mapping.errnoString())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BitternError.io("cannot stat '\(path)': \(Mapping.errnoString())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw BitternError.io("'\(path)' is not a regular file") }
        guard st.st_size > 0 else { throw BitternError.format("'\(path)' is empty, not a \(kind) file") }
        guard let size = Int(exactly: st.st_size) else { throw BitternError.io("'\(path)' is too large to map") }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw BitternError.io("cannot map '\(path)' (\(size) bytes): \(Mapping.errnoString())")
        }
        base = UnsafeRawPointer(p)
        length = size
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    /// Drops the whole pages of [offset, offset + count) from RSS (read back from the file if touched).
    func release(offset: Int, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0, count > 0 else { return }
        let first = (offset + page - 1) / page * page
        let end = (offset + count) / page * page
        guard end > first else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + first), end - first, MADV_DONTNEED)
    }

    static func errnoString() -> String { String(cString: strerror(errno)) }
}

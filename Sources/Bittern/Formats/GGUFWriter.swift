#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a GGUF v3 file: metadata, tensor infos, then each tensor's bytes aligned to `general.alignment`.
/// Tensor bytes are produced one tensor at a time while writing, so converting a large checkpoint never
/// holds more than one converted tensor. The file is written next to its destination under a temporary
/// name and renamed into place only when complete: a failure or a crash never leaves a half-written model.
public final class GGUFWriter {
    public struct Tensor {
        public let name: String
        /// ne order: ne0 (the input dimension of a weight) first.
        public let dims: [Int]
        public let type: GGMLType
        public let byteCount: Int
        let produce: () throws -> [UInt8]
    }

    public let path: String
    public let alignment: Int
    public private(set) var metadata: [(String, GGUFValue)] = []
    public private(set) var tensors: [Tensor] = []
    private var names = Set<String>()

    public init(path: String, alignment: Int = GGUFFile.defaultAlignment) {
        self.path = path
        self.alignment = alignment
        if alignment != GGUFFile.defaultAlignment { metadata.append(("general.alignment", .uint32(UInt32(truncatingIfNeeded: alignment)))) }  // checked by write()
    }

    public func set(_ key: String, _ v: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = v } else { metadata.append((key, v)) }
    }

    /// Plans a tensor; `produce` is called once, during write(), and must return exactly the bytes its
    /// type and dims imply.
    public func addTensor(_ name: String, dims: [Int], type: GGMLType, produce: @escaping () throws -> [UInt8]) throws {
        guard !names.contains(name) else { throw BitternError.invalidArgument("tensor '\(name)' is added twice") }
        let bytes = try type.byteSize(dims: dims, tensor: name)
        names.insert(name)
        tensors.append(Tensor(name: name, dims: dims, type: type, byteCount: bytes, produce: produce))
    }

    /// Writes the file. `progress(done, total)` is called after each tensor.
    public func write(progress: ((Int, Int) -> Void)? = nil) throws {
        guard alignment >= 1, alignment <= 1 << 30, alignment & (alignment - 1) == 0 else {
            throw BitternError.invalidArgument("GGUF alignment \(alignment) is not a power of two up to 2^30")
        }
        // A name no other writer uses (pid and a per-process counter), created exclusively: two
        // conversions to one path never share a temporary file, and a planted link is not followed.
        var tmp = ""
        var fd: Int32 = -1
        repeat {
            tmp = path + ".partial-\(getpid())-\(GGUFWriter.nextTemporary())"
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        } while fd < 0 && errno == EEXIST
        guard fd >= 0 else { throw BitternError.io("cannot create '\(tmp)': \(Mapping.errnoString())") }
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(tmp) }
        }
        var out = Output(fd: fd, path: tmp)
        try out.bytes(Array("GGUF".utf8))
        try out.int(UInt32(3))
        try out.int(UInt64(tensors.count))
        try out.int(UInt64(metadata.count))
        for (k, v) in metadata {
            try out.string(k)
            try out.int(v.type.rawValue)
            try out.value(v)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            try out.string(t.name)
            try out.int(UInt32(t.dims.count))
            for d in t.dims { try out.int(UInt64(d)) }
            try out.int(t.type.id)
            try out.int(UInt64(offset))
            offsets.append(offset)
            offset = (offset + t.byteCount + alignment - 1) / alignment * alignment
        }
        try out.pad(to: alignment)
        for (i, t) in tensors.enumerated() {
            let b = try t.produce()
            guard b.count == t.byteCount else {
                throw BitternError.internal("tensor '\(t.name)': produced \(b.count) bytes, \(t.type.name) \(t.dims) needs \(t.byteCount)")
            }
            try out.bytes(b)
            if i + 1 < tensors.count { try out.pad(to: alignment) }
            progress?(i + 1, tensors.count)
        }
        try out.flush()
        guard fsync(fd) == 0 else { throw BitternError.io("cannot write '\(tmp)': \(Mapping.errnoString())") }
        guard rename(tmp, path) == 0 else {
            throw BitternError.io("cannot rename '\(tmp)' to '\(path)': \(Mapping.errnoString())")
        }
        renamed = true
    }

    private static let counterLock = Lock()
    nonisolated(unsafe) private static var counter = 0
    private static func nextTemporary() -> Int {
        counterLock.withLock {
            counter += 1
            return counter
        }
    }

    /// A buffered little-endian writer that tracks the file position.
    private struct Output {
        let fd: Int32
        let path: String
        var buffer: [UInt8] = []
        var position = 0

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
            buffer.reserveCapacity(1 << 20)
        }

        mutating func flush() throws {
            var done = 0
            while done < buffer.count {
                let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw BitternError.io("cannot write '\(path)': \(Mapping.errnoString())") }
                done += n
            }
            buffer.removeAll(keepingCapacity: true)
        }

        mutating func bytes<C: Collection>(_ b: C) throws where C.Element == UInt8 {
            buffer.append(contentsOf: b)
            position += b.count
            if buffer.count >= 1 << 20 { try flush() }
        }

        mutating func int<T: FixedWidthInteger>(_ v: T) throws {
            try withUnsafeBytes(of: v.littleEndian) { try bytes($0) }
        }

        mutating func string(_ s: String) throws {
            try int(UInt64(s.utf8.count))
            try bytes(s.utf8)
        }

        mutating func pad(to a: Int) throws {
            let n = (a - position % a) % a
            if n > 0 { try bytes([UInt8](repeating: 0, count: n)) }
        }

        mutating func value(_ v: GGUFValue) throws {
            switch v {
            case .uint8(let x): try int(x)
            case .int8(let x): try int(x)
            case .uint16(let x): try int(x)
            case .int16(let x): try int(x)
            case .uint32(let x): try int(x)
            case .int32(let x): try int(x)
            case .uint64(let x): try int(x)
            case .int64(let x): try int(x)
            case .float32(let x): try int(x.bitPattern)
            case .float64(let x): try int(x.bitPattern)
            case .bool(let x): try int(UInt8(x ? 1 : 0))
            case .string(let s): try string(s)
            case .array(let a): try array(a)
            }
        }

        mutating func array(_ a: GGUFArray) throws {
            try int(a.elementType.rawValue)
            try int(UInt64(a.count))
            switch a {
            case .uint8(let x): try bytes(x)
            case .int8(let x): for e in x { try int(e) }
            case .uint16(let x): for e in x { try int(e) }
            case .int16(let x): for e in x { try int(e) }
            case .uint32(let x): for e in x { try int(e) }
            case .int32(let x): for e in x { try int(e) }
            case .uint64(let x): for e in x { try int(e) }
            case .int64(let x): for e in x { try int(e) }
            case .float32(let x): for e in x { try int(e.bitPattern) }
            case .float64(let x): for e in x { try int(e.bitPattern) }
            case .bool(let x): for e in x { try int(UInt8(e ? 1 : 0)) }
            case .string(let x): for e in x { try string(e) }
            case .array(let x): for e in x { try array(e) }
            }
        }
    }
}

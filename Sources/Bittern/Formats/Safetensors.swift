#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types of safetensors files (the names its header uses).
public enum SafetensorsDType: String, Sendable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32", i64 = "I64", u64 = "U64", f64 = "F64"

    public var size: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .i64, .u64, .f64: return 8
        }
    }
}

/// One tensor of a safetensors file: shape in PyTorch order (outermost first, so a Linear weight is
/// [out, in]) and its bytes' place in the file.
public struct SafetensorsTensor: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Absolute byte offset in the file, and byte count.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { byteCount / dtype.size }
}

/// A memory-mapped safetensors file: 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and data_offsets (relative to the end of the header), then the raw data.
/// Every size and offset is checked against the file before anything is read.
public final class SafetensorsFile: @unchecked Sendable {
    /// The format's own limit on the header (safetensors refuses larger ones too).
    public static let maxHeaderBytes = 100 << 20

    public let path: String
    public let tensors: [SafetensorsTensor]
    /// `__metadata__` string pairs.
    public let metadata: [(String, String)]
    private let index: [String: Int]
    private let mapping: Mapping

    public init(path: String) throws {
        let m = try Mapping(path: path, kind: "safetensors")
        func fail(_ s: String) -> BitternError { .format("\(path): \(s)") }
        guard m.length >= 8 else { throw fail("truncated: \(m.length) bytes, a safetensors file starts with an 8-byte header length") }
        let n64 = UInt64(littleEndian: m.base.loadUnaligned(as: UInt64.self))
        guard n64 <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw fail("header length \(n64) is over the \(SafetensorsFile.maxHeaderBytes)-byte limit (not a safetensors file?)")
        }
        let headerBytes = Int(n64)
        guard headerBytes <= m.length - 8 else {
            throw fail("truncated: the header needs \(headerBytes) bytes, the file has \(m.length - 8) after the length")
        }
        let header = try JSONParser.parse(UnsafeRawBufferPointer(start: m.base + 8, count: headerBytes), what: "\(path) header")
        guard let fields = header.objectValue else { throw fail("the header is not a JSON object") }
        let dataStart = 8 + headerBytes
        let dataLength = m.length - dataStart
        var tensors: [SafetensorsTensor] = []
        var metadata: [(String, String)] = []
        for (name, v) in fields {
            if name == "__metadata__" {
                guard let pairs = v.objectValue else { throw fail("__metadata__ is not an object") }
                for (k, s) in pairs {
                    guard let s = s.stringValue else { throw fail("__metadata__ value '\(k)' is not a string") }
                    metadata.append((k, s))
                }
                continue
            }
            func bad(_ s: String) -> BitternError { fail("tensor '\(name)': \(s)") }
            guard let dt = v["dtype"]?.stringValue else { throw bad("no dtype") }
            guard let dtype = SafetensorsDType(rawValue: dt) else { throw bad("unknown dtype '\(dt)'") }
            guard let dims = v["shape"]?.arrayValue else { throw bad("no shape") }
            var shape: [Int] = []
            var count = 1
            for d in dims {
                guard let x = d.intValue, x >= 0 else { throw bad("shape \(dims.map { $0.serialized() }) has an entry that is not a count") }
                let (p, o) = count.multipliedReportingOverflow(by: x)
                guard !o else { throw bad("shape \(shape + [x]) has more elements than any file can hold") }
                shape.append(x)
                count = p
            }
            guard let offs = v["data_offsets"]?.arrayValue, offs.count == 2,
                  let begin = offs[0].intValue, let end = offs[1].intValue, begin >= 0, begin <= end else {
                throw bad("data_offsets must be [begin, end] with 0 <= begin <= end")
            }
            guard end <= dataLength else {
                throw bad("data_offsets [\(begin), \(end)] run past the end of the data (\(dataLength) bytes; truncated file?)")
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o, bytes == end - begin else {
                throw bad("shape \(shape) of \(dtype.rawValue) needs \(o ? "too many" : String(bytes)) bytes, data_offsets hold \(end - begin)")
            }
            tensors.append(SafetensorsTensor(name: name, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: bytes))
        }
        // Tensors may not share bytes: a crafted header could otherwise alias one buffer as two tensors.
        let sorted = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        var index = [String: Int](minimumCapacity: tensors.count)
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.path = path
        self.mapping = m
        self.tensors = tensors
        self.metadata = metadata
        self.index = index
    }

    public func tensor(named name: String) -> SafetensorsTensor? { index[name].map { tensors[$0] } }

    public func bytes(of t: SafetensorsTensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.base + t.offset, count: t.byteCount)
    }

    /// Drops the tensor's pages from RSS once converted (big checkpoints are read once, tensor by tensor).
    public func releasePages(of t: SafetensorsTensor) { mapping.release(offset: t.offset, count: t.byteCount) }
}

/// A Hugging Face checkpoint's weights: one `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names (each must exist and hold the tensors mapped to it).
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let files: [SafetensorsFile]
    private let location: [String: (file: Int, tensor: SafetensorsTensor)]
    /// Tensor names in file order (shards in the order the index first names them).
    public let names: [String]

    public init(directory: String) throws {
        self.directory = directory
        let indexPath = directory + "/model.safetensors.index.json"
        var files: [SafetensorsFile] = []
        if fileExists(indexPath) {
            let json = try readJSON(indexPath)
            guard let map = json["weight_map"]?.objectValue else {
                throw BitternError.format("\(indexPath): no \"weight_map\" object")
            }
            var shardIndex: [String: Int] = [:]
            var wanted: [(String, Int)] = []
            for (tensor, v) in map {
                guard let shard = v.stringValue, !shard.isEmpty, !shard.contains("/") else {
                    throw BitternError.format("\(indexPath): weight_map entry '\(tensor)' does not name a shard file in the directory")
                }
                if shardIndex[shard] == nil {
                    let p = directory + "/" + shard
                    guard fileExists(p) else {
                        throw BitternError.io("\(directory): shard '\(shard)' listed in model.safetensors.index.json is missing")
                    }
                    shardIndex[shard] = files.count
                    files.append(try SafetensorsFile(path: p))
                }
                wanted.append((tensor, shardIndex[shard]!))
            }
            var location: [String: (Int, SafetensorsTensor)] = [:]
            for (tensor, i) in wanted {
                guard let t = files[i].tensor(named: tensor) else {
                    throw BitternError.format("\(files[i].path): has no tensor '\(tensor)', which model.safetensors.index.json maps to it")
                }
                location[tensor] = (i, t)
            }
            self.location = location
            self.names = wanted.map { $0.0 }
        } else {
            let p = directory + "/model.safetensors"
            guard fileExists(p) else {
                throw BitternError.io("\(directory): no model.safetensors or model.safetensors.index.json")
            }
            let f = try SafetensorsFile(path: p)
            files = [f]
            var location: [String: (Int, SafetensorsTensor)] = [:]
            for t in f.tensors { location[t.name] = (0, t) }
            self.location = location
            self.names = f.tensors.map { $0.name }
        }
        self.files = files
    }

    public func tensor(named name: String) -> SafetensorsTensor? { location[name]?.tensor }

    public func require(_ name: String) throws -> SafetensorsTensor {
        guard let t = location[name]?.tensor else { throw BitternError.format("\(directory): missing tensor '\(name)'") }
        return t
    }

    public func bytes(of name: String) throws -> UnsafeRawBufferPointer {
        let t = try require(name)
        return files[location[name]!.file].bytes(of: t)
    }

    public func releasePages(of name: String) {
        if let l = location[name] { files[l.file].releasePages(of: l.tensor) }
    }

    /// The tensor as floats (BF16, F16 or F32), row-major as stored.
    public func floats(_ name: String) throws -> [Float] {
        let t = try require(name)
        let b = try bytes(of: name)
        let n = t.elementCount
        var out = [Float](repeating: 0, count: n)
        switch t.dtype {
        case .f32: for i in 0..<n { out[i] = b.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16: for i in 0..<n { out[i] = halfToFloat(b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16: for i in 0..<n { out[i] = bf16ToFloat(b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        default: throw BitternError.format("\(directory): tensor '\(name)' is \(t.dtype.rawValue), expected F32, F16 or BF16")
        }
        return out
    }
}

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : -1
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

/// Reads and parses a JSON file (Hugging Face config, tokenizer and index files).
public func readJSON(_ path: String) throws -> JSON {
    let m = try Mapping(path: path, kind: "JSON")
    return try JSONParser.parse(m.bytes, what: path)
}

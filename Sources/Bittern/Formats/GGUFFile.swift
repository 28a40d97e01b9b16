#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor of a GGUF file, as its tensor info describes it.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml dims, ne0 first (ne0 is the input dimension of a weight: cols). Empty for a 0-d scalar.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset of the data relative to the start of the data section.
    public let offset: Int
    /// Size of the data, from the type's block geometry.
    public let byteCount: Int
    public let elementCount: Int

    /// ne0 (1 for a scalar).
    public var cols: Int { dims.first ?? 1 }
    /// ne1 * ne2 * ne3.
    public var rows: Int { cols == 0 ? 0 : elementCount / cols }
}

/// A GGUF file (versions 2 and 3, little-endian), mapped read-only. Every count, size and offset is
/// checked against the file length before it is read or allocated for; a malformed file gives a
/// BitternError (.format, or .io for system errors) whose message names the key or tensor.
/// Tensor bytes point into the mapping: they stay valid as long as this object lives. (A file truncated
/// by another process while mapped can still raise SIGBUS; that is outside what a reader can check.)
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let alignment: Int
    /// Byte offset of the data section in the file.
    public let dataOffset: Int
    public let fileSize: Int
    /// Metadata keys in file order.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    private let tensorIndex: [String: Int]
    private let mapping: Mapping

    public static let defaultAlignment = 32
    /// Arrays nested deeper than this are refused (GGUF writers produce depth 1 or 2).
    static let maxArrayDepth = 8

    public init(path: String) throws {
        let m = try Mapping(path: path)
        var r = Reader(base: m.base, length: m.length, path: path)
        let header = try r.parseHeader()
        self.path = path
        self.mapping = m
        self.fileSize = m.length
        self.version = header.version
        self.alignment = header.alignment
        self.dataOffset = header.dataOffset
        self.keys = header.keys
        self.metadata = header.metadata
        self.tensors = header.tensors
        var index = [String: Int](minimumCapacity: header.tensors.count)
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        self.tensorIndex = index
    }

    // MARK: metadata

    public func value(_ key: String) -> GGUFValue? { metadata[key] }

    private func mismatch(_ key: String, _ v: GGUFValue, _ expected: String) -> BitternError {
        .format("\(path): metadata key '\(key)' is a \(v.type), expected \(expected)")
    }

    /// nil when absent; an error when present with another type.
    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.stringValue else { throw mismatch(key, v, "a string") }
        return s
    }

    /// Any integer type whose value fits an Int. nil when absent; an error for another type.
    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue else {
            if v.type == .uint64 || v.type == .int64 {
                throw BitternError.format("\(path): metadata key '\(key)' = \(v) does not fit in an Int")
            }
            throw mismatch(key, v, "an integer")
        }
        return i
    }

    /// float32 or float64 (converted). nil when absent; an error for another type.
    public func float(_ key: String) throws -> Float? {
        try double(key).map { Float($0) }
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.doubleValue else { throw mismatch(key, v, "a float") }
        return d
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.boolValue else { throw mismatch(key, v, "a bool") }
        return b
    }

    public func array(_ key: String) throws -> GGUFArray? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.arrayValue else { throw mismatch(key, v, "an array") }
        return a
    }

    public func stringArray(_ key: String) throws -> [String]? {
        guard let a = try array(key) else { return nil }
        guard let s = a.strings else {
            throw BitternError.format("\(path): metadata key '\(key)' is an array of \(a.elementType), expected strings")
        }
        return s
    }

    public func intArray(_ key: String) throws -> [Int]? {
        guard let a = try array(key) else { return nil }
        guard let s = a.ints else {
            throw BitternError.format("\(path): metadata key '\(key)' is an array of \(a.elementType), expected integers that fit an Int")
        }
        return s
    }

    public func floatArray(_ key: String) throws -> [Float]? {
        guard let a = try array(key) else { return nil }
        guard let s = a.floats else {
            throw BitternError.format("\(path): metadata key '\(key)' is an array of \(a.elementType), expected floats")
        }
        return s
    }

    /// The value of a key that must be present (e.g. `try f.require(f.int, "bitnet-b1.58.block_count")`).
    public func require<T>(_ get: (String) throws -> T?, _ key: String) throws -> T {
        guard let v = try get(key) else { throw BitternError.format("\(path): missing metadata key '\(key)'") }
        return v
    }

    // MARK: tensors

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = tensor(named: name) else { throw BitternError.format("\(path): missing tensor '\(name)'") }
        return t
    }

    /// The tensor's bytes inside the mapping (checked at open to lie within the file).
    public func bytes(of t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.base + (dataOffset + t.offset), count: t.byteCount)
    }

    public func bytes(named name: String) throws -> UnsafeRawBufferPointer {
        bytes(of: try requireTensor(name))
    }

    /// Decodes a weight tensor to canonical trits + one scale (see TensorCodecs.decodeTernary).
    public func ternary(_ name: String, options: TernaryDecodeOptions = TernaryDecodeOptions()) throws -> CanonicalTernary {
        let t = try requireTensor(name)
        return try TensorCodecs.decodeTernary(name: name, type: t.type, dims: t.dims, bytes: bytes(of: t), options: options)
    }

    /// Decodes an F32/F16/BF16/Q8_0 tensor to floats.
    public func floats(_ name: String) throws -> [Float] {
        let t = try requireTensor(name)
        return try TensorCodecs.decodeFloats(name: name, type: t.type, dims: t.dims, bytes: bytes(of: t))
    }

    /// Decodes rows of an F32/F16/BF16/Q8_0 tensor (each ne0 floats) into out, e.g. one embedding row.
    public func floatRows(_ name: String, rows: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws {
        let t = try requireTensor(name)
        try TensorCodecs.decodeFloatRows(name: name, type: t.type, dims: t.dims, bytes: bytes(of: t), rows: rows, into: out)
    }

    /// Tells the kernel the tensor's whole pages are not needed any more (after packing the weights
    /// elsewhere), so they stop counting in RSS; they are read back from the file if touched again.
    public func releasePages(of t: GGUFTensorInfo) {
        releasePages(of: t, rows: 0..<max(t.rows, 1))
    }

    /// The same for the whole pages inside rows [range) of a tensor (rows of ne0 values, whole blocks).
    public func releasePages(of t: GGUFTensorInfo, rows range: Range<Int>) {
        guard t.rows > 0 else { return }
        let rowBytes = t.byteCount / t.rows
        mapping.release(offset: dataOffset + t.offset + range.lowerBound * rowBytes, count: range.count * rowBytes)
    }
}

// MARK: - parsing

private struct Header {
    var version: UInt32
    var alignment: Int
    var dataOffset: Int
    var keys: [String]
    var metadata: [String: GGUFValue]
    var tensors: [GGUFTensorInfo]
}

/// A bounds-checked little-endian cursor over the mapping.
private struct Reader {
    let base: UnsafeRawPointer
    let length: Int
    let path: String
    var pos = 0

    init(base: UnsafeRawPointer, length: Int, path: String) {
        self.base = base
        self.length = length
        self.path = path
    }

    var remaining: Int { length - pos }

    func fail(_ m: String) -> BitternError { .format("\(path): \(m)") }

    func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n <= remaining else {
            throw fail("truncated: \(what()) needs \(n) bytes at offset \(pos), only \(remaining) left (file is \(length) bytes)")
        }
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: pos, as: T.self))
        pos += MemoryLayout<T>.size
        return v
    }

    /// A u64 count or length that must fit an Int.
    mutating func count(_ what: @autoclosure () -> String) throws -> Int {
        let v = try load(UInt64.self, what())
        guard let n = Int(exactly: v) else { throw fail("\(what()) = \(v) is absurd (larger than any file)") }
        return n
    }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try count("length of \(what())")
        guard n <= remaining else {
            throw fail("\(what()): string length \(n) at offset \(pos - 8) runs past the end of the file (\(remaining) bytes left)")
        }
        let s = String(decoding: UnsafeRawBufferPointer(start: base + pos, count: n), as: UTF8.self)
        pos += n
        return s
    }

    mutating func parseHeader() throws -> Header {
        try need(4, "the magic")
        let magic = [UInt8](UnsafeRawBufferPointer(start: base, count: 4))
        guard magic == [0x47, 0x47, 0x55, 0x46] else {
            throw fail("not a GGUF file (magic bytes \(magic.map { String($0, radix: 16) }), expected 'GGUF')")
        }
        pos = 4
        let version = try load(UInt32.self, "the version")
        switch version {
        case 2, 3: break
        case 1: throw fail("GGUF version 1 is not supported (versions 2 and 3 are); convert the file again with a current llama.cpp")
        case 0x0200_0000, 0x0300_0000: throw fail("big-endian GGUF files are not supported")
        default: throw fail("unknown GGUF version \(version) (versions 2 and 3 are supported)")
        }
        let tensorCount = try count("the tensor count")
        let kvCount = try count("the metadata key/value count")
        // Cheapest encodings: a key/value is a u64 key length, a u32 type and a 1-byte value (13); a
        // tensor info is a u64 name length, u32 n_dims, u32 type and u64 offset (24).
        let (kvMin, o1) = kvCount.multipliedReportingOverflow(by: 13)
        guard !o1, kvMin <= remaining else {
            throw fail("metadata key/value count \(kvCount) cannot fit in the \(remaining) bytes left")
        }
        let (tiMin, o2) = tensorCount.multipliedReportingOverflow(by: 24)
        guard !o2, tiMin <= remaining - kvMin else {
            throw fail("tensor count \(tensorCount) cannot fit in the \(remaining - kvMin) bytes left after \(kvCount) key/values")
        }

        var keys = [String]()
        keys.reserveCapacity(kvCount)
        var metadata = [String: GGUFValue](minimumCapacity: kvCount)
        for i in 0..<kvCount {
            let key = try string("key #\(i)")
            guard metadata[key] == nil else { throw fail("duplicate metadata key '\(key)'") }
            let rawType = try load(UInt32.self, "the type of key '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw fail("metadata key '\(key)' has unknown value type \(rawType)")
            }
            metadata[key] = try value(type, key: key, depth: 0)
            keys.append(key)
        }

        var alignment = GGUFFile.defaultAlignment
        if let v = metadata["general.alignment"] {
            guard let a = v.intValue else {
                throw fail("metadata key 'general.alignment' is a \(v.type), expected an integer")
            }
            guard a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                throw fail("general.alignment = \(a) is not a power of two (up to 2^30)")
            }
            alignment = a
        }

        var tensors = [GGUFTensorInfo]()
        tensors.reserveCapacity(tensorCount)
        var names = Set<String>(minimumCapacity: tensorCount)
        for i in 0..<tensorCount {
            let name = try string("the name of tensor #\(i)")
            guard names.insert(name).inserted else { throw fail("duplicate tensor name '\(name)'") }
            let nDims = try load(UInt32.self, "n_dims of tensor '\(name)'")
            guard nDims <= 4 else { throw fail("tensor '\(name)' has \(nDims) dimensions; at most 4 are allowed") }
            var dims = [Int]()
            for d in 0..<Int(nDims) {
                let v = try load(UInt64.self, "dimension \(d) of tensor '\(name)'")
                guard let n = Int(exactly: v) else { throw fail("tensor '\(name)': dimension \(d) = \(v) is absurd") }
                dims.append(n)
            }
            var elements = 1
            for n in dims {
                let (e, o) = elements.multipliedReportingOverflow(by: n)
                guard !o else { throw fail("tensor '\(name)': dimensions \(dims) overflow (the element count does not fit in 64 bits)") }
                elements = e
            }
            let typeID = try load(UInt32.self, "the type of tensor '\(name)'")
            guard let type = GGMLType.from(id: typeID) else {
                throw fail("tensor '\(name)': \(GGMLType.unknownDescription(typeID))")
            }
            let rawOffset = try load(UInt64.self, "the data offset of tensor '\(name)'")
            guard let offset = Int(exactly: rawOffset) else {
                throw fail("tensor '\(name)': data offset \(rawOffset) is past the end of the file")
            }
            guard offset % alignment == 0 else {
                throw fail("tensor '\(name)': data offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            let bytes: Int
            do { bytes = try type.byteSize(dims: dims, tensor: name) } catch let e as BitternError { throw fail(e.message) }
            tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, byteCount: bytes,
                                          elementCount: elements))
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, o3) = pos.addingReportingOverflow(alignment - 1)
        guard !o3 else { throw fail("data section offset overflows") }
        let dataOffset = padded / alignment * alignment
        let dataBytes = length - min(dataOffset, length)
        for t in tensors {
            let (end, o) = t.offset.addingReportingOverflow(t.byteCount)
            guard !o, dataOffset <= length, end <= dataBytes else {
                throw fail("tensor '\(t.name)' (\(t.type.name), dims \(t.dims), \(t.byteCount) bytes at data offset \(t.offset)) "
                           + "runs past the end of the file (the data section holds \(dataBytes) bytes)")
            }
        }
        // No two tensors may share bytes.
        let sorted = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        if sorted.count > 1 {
            for i in 1..<sorted.count where sorted[i - 1].offset + sorted[i - 1].byteCount > sorted[i].offset {
                throw fail("tensors '\(sorted[i - 1].name)' and '\(sorted[i].name)' overlap in the data section")
            }
        }
        return Header(version: version, alignment: alignment, dataOffset: dataOffset, keys: keys,
                      metadata: metadata, tensors: tensors)
    }

    mutating func value(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, what))
        case .int8: return .int8(try load(Int8.self, what))
        case .uint16: return .uint16(try load(UInt16.self, what))
        case .int16: return .int16(try load(Int16.self, what))
        case .uint32: return .uint32(try load(UInt32.self, what))
        case .int32: return .int32(try load(Int32.self, what))
        case .uint64: return .uint64(try load(UInt64.self, what))
        case .int64: return .int64(try load(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, what)))
        case .bool: return .bool(try bool(key))
        case .string: return .string(try string(what))
        case .array: return .array(try array(key: key, depth: depth))
        }
    }

    mutating func bool(_ key: String) throws -> Bool {
        let b = try load(UInt8.self, "the value of '\(key)'")
        guard b <= 1 else { throw fail("metadata key '\(key)': bool byte \(b) at offset \(pos - 1) is neither 0 nor 1") }
        return b == 1
    }

    mutating func array(key: String, depth: Int) throws -> GGUFArray {
        guard depth < GGUFFile.maxArrayDepth else {
            throw fail("metadata key '\(key)': arrays nested more than \(GGUFFile.maxArrayDepth) deep")
        }
        let rawType = try load(UInt32.self, "the element type of array '\(key)'")
        guard let et = GGUFValueType(rawValue: rawType) else {
            throw fail("metadata key '\(key)': array of unknown value type \(rawType)")
        }
        let n = try count("the element count of array '\(key)'")
        let (minBytes, o) = n.multipliedReportingOverflow(by: et.minimumEncodedSize)
        guard !o, minBytes <= remaining else {
            throw fail("metadata key '\(key)': array of \(n) \(et) elements cannot fit in the \(remaining) bytes left")
        }
        let what = "an element of array '\(key)'"
        func numbers<T: FixedWidthInteger>(_: T.Type) -> [T] {
            // Bounds already checked: n * size <= remaining.
            let p = base + pos
            let out = (0..<n).map { T(littleEndian: p.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            pos += n * MemoryLayout<T>.size
            return out
        }
        switch et {
        case .uint8: return .uint8(numbers(UInt8.self))
        case .int8: return .int8(numbers(Int8.self))
        case .uint16: return .uint16(numbers(UInt16.self))
        case .int16: return .int16(numbers(Int16.self))
        case .uint32: return .uint32(numbers(UInt32.self))
        case .int32: return .int32(numbers(Int32.self))
        case .uint64: return .uint64(numbers(UInt64.self))
        case .int64: return .int64(numbers(Int64.self))
        case .float32: return .float32(numbers(UInt32.self).map { Float(bitPattern: $0) })
        case .float64: return .float64(numbers(UInt64.self).map { Double(bitPattern: $0) })
        case .bool:
            var out = [Bool]()
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try bool(key)) }
            return .bool(out)
        case .string:
            var out = [String]()
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try string(what)) }
            return .string(out)
        case .array:
            var out = [GGUFArray]()
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try array(key: key, depth: depth + 1)) }
            return .array(out)
        }
    }
}

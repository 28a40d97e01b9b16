import Testing
@testable import Bittern
#if canImport(Glibc)
import Glibc
#endif

// MARK: - fixture helpers (no Foundation)

enum GGUFFixtures {
    /// Tests/BitternTests/Fixtures, found from this file's path.
    static let dir: String = {
        let file = "\(#filePath)"
        guard let slash = file.lastIndex(of: "/") else { return "Fixtures" }
        return String(file[..<slash]) + "/Fixtures"
    }()

    static func path(_ name: String) -> String { dir + "/" + name }

    static func read(_ path: String) -> [UInt8] {
        guard let f = fopen(path, "rb") else { return [] }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    static func bytes(_ name: String) -> [UInt8] { read(path(name)) }

    static func text(_ name: String) -> String { String(decoding: read(path(name)), as: UTF8.self) }
}

/// A temporary file holding bytes; removed on close().
struct TempFile {
    let path: String

    init(_ bytes: [UInt8]) {
        var template = Array("/tmp/bittern-gguf-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        precondition(fd >= 0, "mkstemp failed")
        path = String(cString: template)
        var done = 0
        bytes.withUnsafeBytes { b in
            while done < b.count {
                let n = write(fd, b.baseAddress! + done, b.count - done)
                if n <= 0 { break }
                done += n
            }
        }
        close(fd)
    }

    func remove() { unlink(path) }
}

/// Expected tensor contents from the fixture sidecar (`<name> <field> <values...>` lines).
struct ExpectedTensors {
    var names: [String] = []
    var type: [String: UInt32] = [:]
    var dims: [String: [Int]] = [:]
    var trits: [String: [Int8]] = [:]
    var alpha: [String: UInt32] = [:]
    var exact: [String: Bool] = [:]
    var layout: [String: I2SLayout] = [:]
    var floats: [String: [UInt32]] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 2 else { continue }
            let (name, field, v) = (f[0], f[1], Array(f.dropFirst(2)))
            switch field {
            case "type": type[name] = UInt32(v[0]); names.append(name)
            case "dims": dims[name] = v.compactMap { Int($0) }
            case "trits": trits[name] = v.first.map { $0.map { $0 == "+" ? 1 : ($0 == "-" ? -1 : 0) } } ?? []
            case "alpha": alpha[name] = UInt32(v[0], radix: 16)
            case "exact": exact[name] = v[0] == "1"
            case "layout": layout[name] = v[0] == "arm" ? .arm : .x86
            case "floats": floats[name] = v.compactMap { UInt32($0, radix: 16) }
            default: break
            }
        }
    }
}

// Little-endian patching of fixture bytes.
extension Array where Element == UInt8 {
    mutating func put32(_ v: UInt32, at o: Int) { for i in 0..<4 { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    mutating func put64(_ v: UInt64, at o: Int) { for i in 0..<8 { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
    func get32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(self[o + $1]) << (8 * UInt32($1)) } }
    func get64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(self[o + $1]) << (8 * UInt64($1)) } }

    /// Offset just past a GGUF string (u64 length + bytes) equal to s, or nil.
    func afterString(_ s: String) -> Int? {
        var needle = [UInt8](repeating: 0, count: 8)
        needle.put64(UInt64(s.utf8.count), at: 0)
        needle += Array(s.utf8)
        guard needle.count <= count else { return nil }
        outer: for i in 0...(count - needle.count) {
            for j in 0..<needle.count where self[i + j] != needle[j] { continue outer }
            return i + needle.count
        }
        return nil
    }
}

/// A GGUF writer for synthetic cases that are awkward to reach by mutation.
struct GGUFBuilder {
    var bytes: [UInt8] = Array("GGUF".utf8)
    init(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        u32(version); u64(tensors); u64(kvs)
    }
    mutating func u32(_ v: UInt32) { let o = bytes.count; bytes += [0, 0, 0, 0]; bytes.put32(v, at: o) }
    mutating func u64(_ v: UInt64) { let o = bytes.count; bytes += [UInt8](repeating: 0, count: 8); bytes.put64(v, at: o) }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func pad(_ a: Int) { while bytes.count % a != 0 { bytes.append(0) } }
}

// MARK: - tests

@Suite struct GGUFTests {
    func open(_ name: String) throws -> GGUFFile { try GGUFFile(path: GGUFFixtures.path(name)) }

    /// Every tensor of the fixture decodes to exactly the sidecar's contents.
    func checkTensors(_ f: GGUFFile, _ sidecar: String) throws {
        let e = ExpectedTensors(GGUFFixtures.text(sidecar))
        #expect(!e.names.isEmpty)
        #expect(f.tensors.map(\.name) == e.names)
        for name in e.names {
            let t = try #require(f.tensor(named: name))
            #expect(t.type.id == e.type[name], "\(name)")
            #expect(t.dims == e.dims[name], "\(name)")
            #expect(t.offset % f.alignment == 0)
            if let trits = e.trits[name] {
                var opts = TernaryDecodeOptions()
                opts.i2sLayout = e.layout[name] ?? .x86
                let w = try f.ternary(name, options: opts)
                #expect(w.cols == t.cols && w.rows == t.rows && w.rows * w.cols == trits.count, "\(name)")
                #expect(w.trits == trits, "\(name): trits differ")
                #expect(w.alpha.bitPattern == e.alpha[name], "\(name): alpha \(w.alpha)")
                #expect(w.exact == e.exact[name], "\(name)")
                #expect(w.zeroCount == trits.filter { $0 == 0 }.count, "\(name)")
            }
            if let floats = e.floats[name] {
                let got = try f.floats(name)
                #expect(got.map(\.bitPattern) == floats, "\(name): floats differ")
                // Row-range decoding agrees with the whole-tensor decode.
                if t.rows > 1 {
                    var row = [Float](repeating: .nan, count: t.cols)
                    try row.withUnsafeMutableBufferPointer {
                        try f.floatRows(name, rows: (t.rows - 1)..<t.rows, into: $0)
                    }
                    #expect(row.map(\.bitPattern) == Array(floats[(t.rows - 1) * t.cols..<t.rows * t.cols]), "\(name)")
                }
            }
        }
    }

    @Test func v3MetadataOfEveryType() throws {
        let f = try open("ternary_v3.gguf")
        #expect(f.version == 3)
        #expect(f.alignment == 32)
        #expect(f.dataOffset % 32 == 0)
        #expect(f.keys.count == 31)
        #expect(f.keys.first == "general.architecture")
        #expect(try f.string("general.architecture") == "bitnet-b1.58")
        #expect(f.value("test.u8") == .uint8(200))
        #expect(f.value("test.i8") == .int8(-100))
        #expect(f.value("test.u16") == .uint16(60000))
        #expect(f.value("test.i16") == .int16(-30000))
        #expect(f.value("test.u32") == .uint32(4_000_000_000))
        #expect(f.value("test.i32") == .int32(-2_000_000_000))
        #expect(f.value("test.f32") == .float32(1.5))
        #expect(f.value("test.bool") == .bool(true))
        #expect(try f.bool("test.bool_false") == false)
        #expect(try f.string("test.string") == "héllo ☃ GGUF")
        #expect(f.value("test.u64") == .uint64(18_000_000_000_000_000_000))
        #expect(f.value("test.i64") == .int64(-9_000_000_000_000_000_000))
        #expect(try f.double("test.f64") == 2.718281828459045)
        #expect(try f.int("test.u8") == 200)
        #expect(try f.int("test.i32") == -2_000_000_000)
        #expect(try f.int("test.i64") == -9_000_000_000_000_000_000)
        #expect(try f.float("test.f32") == 1.5)
        #expect(try f.int("bitnet-b1.58.block_count") == 2)
        #expect(try f.float("bitnet-b1.58.attention.layer_norm_rms_epsilon") == Float(1e-5))
        #expect(try f.string("tokenizer.ggml.model") == "gpt2")
        #expect(try f.string("no.such.key") == nil)
        // arrays of every element type
        #expect(try f.array("test.arr.u8") == .uint8([0, 1, 255]))
        #expect(try f.array("test.arr.i8") == .int8([-128, 0, 127]))
        #expect(try f.array("test.arr.u16") == .uint16([0, 65535]))
        #expect(try f.array("test.arr.i16") == .int16([-32768, 32767]))
        #expect(try f.array("test.arr.u32") == .uint32([1, 4_294_967_295]))
        #expect(try f.intArray("test.arr.i32") == [-1, 2, -3])
        #expect(try f.array("test.arr.u64") == .uint64([0, UInt64.max]))
        #expect(try f.array("test.arr.i64") == .int64([Int64.min, Int64.max]))
        #expect(try f.floatArray("test.arr.f32") == [0.5, -2.25, Float(1e-5)])
        #expect(try f.array("test.arr.f64") == .float64([0.1, -1e300]))
        #expect(try f.array("test.arr.bool") == .bool([true, false, true]))
        #expect(try f.stringArray("test.arr.string") == ["a", "", "ĠHello", "<|eot_id|>"])
        #expect(try f.array("test.arr.nested") == .array([.int32([1, 2]), .int32([3])]))
        #expect(try f.array("test.arr.nested_strings") == .array([.string(["x", "yz"]), .string(["w"])]))
        let a = try #require(try f.array("test.arr.u16"))
        #expect(a.count == 2 && a.elementType == .uint16 && a[1] == .uint16(65535) && a.values == [.uint16(0), .uint16(65535)])
    }

    @Test func typedGettersRefuseOtherTypes() throws {
        let f = try open("ternary_v3.gguf")
        for (call, key) in [({ _ = try f.int($0) }, "test.string"), ({ _ = try f.string($0) }, "test.u8"),
                            ({ _ = try f.float($0) }, "test.i32"), ({ _ = try f.bool($0) }, "test.u8"),
                            ({ _ = try f.array($0) }, "test.f64"), ({ _ = try f.stringArray($0) }, "test.arr.u8"),
                            ({ _ = try f.intArray($0) }, "test.arr.string"), ({ _ = try f.floatArray($0) }, "test.arr.i8"),
                            ({ _ = try f.int($0) }, "test.u64"), ({ _ = try f.intArray($0) }, "test.arr.u64")]
            as [((String) throws -> Void, String)] {
            do {
                try call(key)
                Issue.record("\(key) was accepted")
            } catch let e as BitternError {
                #expect(e.status == Status.format)
                #expect(e.message.contains(key), "\(e.message)")
            }
        }
        #expect(throws: BitternError.self) { _ = try f.require(f.int, "missing.key") }
        #expect(try f.require(f.int, "test.u16") == 60000)
        do {
            _ = try f.requireTensor("output.weight")
            Issue.record("missing tensor accepted")
        } catch let e as BitternError {
            #expect(e.message.contains("output.weight"))
        }
    }

    @Test func v3TensorsDecodeExactly() throws {
        let f = try open("ternary_v3.gguf")
        try checkTensors(f, "ternary_v3.expected.txt")
        let s = try #require(f.tensor(named: "blk.0.attn_q.scale"))
        #expect(s.dims == [] && s.elementCount == 1 && s.cols == 1 && s.rows == 1)
        let t3 = try #require(f.tensor(named: "t3d.f32"))
        #expect(t3.rows == 6 && t3.cols == 4)
        let i2 = try #require(f.tensor(named: "w.i2_s"))
        #expect(i2.byteCount == 256 * 4 / 4 + 32)
        #expect(f.bytes(of: i2).count == i2.byteCount)
        // Dense weights go through the same absmean procedure as Quantizer.
        let dense = try f.floats("w.f32.dense")
        let q = try dense.withUnsafeBufferPointer { try Quantizer.absmean($0.baseAddress!, count: dense.count) }
        let w = try f.ternary("w.f32.dense")
        #expect(q.trits == w.trits && q.alpha == w.alpha && !w.exact)
    }

    @Test func v2FileWithAlignment64() throws {
        let f = try open("small_v2.gguf")
        #expect(f.version == 2)
        #expect(f.alignment == 64)
        #expect(f.dataOffset % 64 == 0)
        #expect(try f.string("general.name") == "small v2")
        #expect(try f.stringArray("tokenizer.ggml.tokens") == ["<s>", "</s>", "a", "b"])
        try checkTensors(f, "small_v2.expected.txt")
    }

    @Test func i2sLayoutsCannotBeToldApartButAreDeclared() throws {
        let f = try open("ternary_v3.gguf")
        // The ARM tensor has ne0 = 192: read as x86 (128-weight blocks) it is refused.
        #expect(throws: BitternError.self) { _ = try f.ternary("w.i2_s.arm") }
        // The x86 tensor read as ARM decodes (same size), to different trits: the option matters.
        var arm = TernaryDecodeOptions()
        arm.i2sLayout = .arm
        let wrong = try f.ternary("w.i2_s", options: arm)
        let right = try f.ternary("w.i2_s")
        #expect(wrong.trits != right.trits)
        #expect(wrong.trits.sorted() == right.trits.sorted())
    }

    @Test func nonTernaryTypesAreRefusedAsWeightsAndViceVersa() throws {
        let f = try open("ternary_v3.gguf")
        for (name, weights) in [("head.q8_0", true), ("w.tq2_0", false), ("w.i2_s", false), ("w.tq1_0", false)] {
            do {
                if weights { _ = try f.ternary(name) } else { _ = try f.floats(name) }
                Issue.record("\(name) accepted")
            } catch let e as BitternError {
                #expect(e.status == Status.format && e.message.contains(name), "\(e.message)")
            }
        }
    }

    @Test func releasingPagesKeepsTheDataReadable() throws {
        let f = try open("ternary_v3.gguf")
        let before = try f.ternary("w.i2_s")
        for t in f.tensors { f.releasePages(of: t) }
        let after = try f.ternary("w.i2_s")
        #expect(before.trits == after.trits)
    }

    // MARK: f16

    @Test func halfConversionMatchesFloat16() {
        #if !(os(macOS) && arch(x86_64))
        for h in 0...UInt16.max {
            let mine = halfToFloat(h)
            let ref = Float(Float16(bitPattern: h))
            if ref.isNaN { #expect(mine.isNaN); continue }
            #expect(mine.bitPattern == ref.bitPattern, "half \(h)")
            #expect(floatToHalf(mine) == h, "round trip \(h)")
        }
        var rng = TestRng(11)
        var edge: [Float] = [0, -0, 65504, 65519.996, 65520, -65520, 1e-8, 2.98e-8, 2.9802322e-8, 5.96e-8, 6.1e-5,
                             6.097555e-5, 1 + 1.0 / 2048, 1 + 3.0 / 2048, .infinity, -.infinity, .greatestFiniteMagnitude,
                             .leastNonzeroMagnitude, Float(bitPattern: 0x0001_2345)]
        for _ in 0..<200_000 {
            edge.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next() >> 32)))
        }
        for f in edge where !f.isNaN {
            #expect(floatToHalf(f) == Float16(f).bitPattern, "float \(f) (\(f.bitPattern))")
        }
        #expect(halfToFloat(floatToHalf(.nan)).isNaN)
        #endif
    }

    // MARK: codecs on synthetic data

    @Test func codecsCheckSizesAndScales() throws {
        // I2_S size mismatch (one byte short) is an error naming the tensor.
        var buf = [UInt8](repeating: 0x55, count: 128 / 4 + 32 - 1)
        do {
            _ = try buf.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "short", type: .i2_s, dims: [128, 1], bytes: $0) }
            Issue.record("short I2_S accepted")
        } catch let e as BitternError {
            #expect(e.status == Status.format && e.message.contains("short"))
        }
        // All-zero I2_S with scale 0 decodes (alpha floor); nonzero trits with scale 0 or NaN do not.
        buf = [UInt8](repeating: 0x55, count: 128 / 4 + 32)
        let z = try buf.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "z", type: .i2_s, dims: [128, 1], bytes: $0) }
        #expect(z.zeroCount == 128 && z.alpha > 0)
        buf[0] = 0x95  // codes 2,1,1,1: one +1
        for scale: Float in [0, .nan, -1, .infinity] {
            buf.put32(scale.bitPattern, at: 32)
            #expect(throws: BitternError.self) {
                _ = try buf.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "s", type: .i2_s, dims: [128, 1], bytes: $0) }
            }
        }
        buf.put32(Float(0.5).bitPattern, at: 32)
        let one = try buf.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "s", type: .i2_s, dims: [128, 1], bytes: $0) }
        #expect(one.trits[0] == 1 && one.trits.dropFirst().allSatisfy { $0 == 0 } && one.alpha == 0.5)
        // Ternary-valued floats with one stray magnitude fall back to absmean.
        var w: [Float] = (0..<64).map { $0 % 3 == 0 ? 0 : ($0 % 2 == 0 ? 0.25 : -0.25) }
        let exact = try w.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "f", type: .f32, dims: [64], bytes: $0) }
        #expect(exact.exact && exact.alpha == 0.25)
        w[5] = 0.2500001
        let approx = try w.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "f", type: .f32, dims: [64], bytes: $0) }
        #expect(!approx.exact)
        w[7] = .nan
        do {
            _ = try w.withUnsafeBytes { try TensorCodecs.decodeTernary(name: "nanw", type: .f32, dims: [64], bytes: $0) }
            Issue.record("NaN weights accepted")
        } catch let e as BitternError {
            #expect(e.status == Status.format && e.message.contains("nanw"))
        }
        // A tensor with no elements.
        #expect(throws: BitternError.self) {
            _ = try [UInt8]().withUnsafeBytes { try TensorCodecs.decodeTernary(name: "e", type: .f32, dims: [0, 3], bytes: $0) }
        }
    }

    // MARK: malformed files

    /// Opening these bytes must give a format/io BitternError with a message (and contain `mention`).
    func expectRefused(_ bytes: [UInt8], _ mention: String? = nil, _ what: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let tmp = TempFile(bytes)
        defer { tmp.remove() }
        do {
            _ = try GGUFFile(path: tmp.path)
            Issue.record("accepted: \(what)", sourceLocation: sourceLocation)
        } catch let e as BitternError {
            #expect(e.status == Status.format || e.status == Status.io, "\(what): status \(e.status)", sourceLocation: sourceLocation)
            #expect(!e.message.isEmpty, sourceLocation: sourceLocation)
            if let m = mention {
                #expect(e.message.contains(m), "\(what): '\(e.message)' does not mention '\(m)'", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("\(what): not a BitternError: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Offsets of a tensor info's fields in the header.
    struct InfoOffsets { var nDims: Int; var dims: Int; var type: Int; var offset: Int }
    func info(_ b: [UInt8], _ name: String) throws -> InfoOffsets {
        let p = try #require(b.afterString(name))
        let n = Int(b.get32(p))
        return InfoOffsets(nDims: p, dims: p + 4, type: p + 4 + 8 * n, offset: p + 8 + 8 * n)
    }

    @Test func truncationAtEveryHeaderOffsetIsAnError() throws {
        for fixture in ["ternary_v3.gguf", "small_v2.gguf"] {
            let b = GGUFFixtures.bytes(fixture)
            let f = try open(fixture)
            // The header (and the data section up to the end of the last tensor) cannot lose a byte.
            let lastEnd = f.tensors.map { f.dataOffset + $0.offset + $0.byteCount }.max() ?? f.dataOffset
            for cut in 0..<f.dataOffset {
                expectRefused(Array(b[0..<cut]), nil, "\(fixture) cut at \(cut)")
            }
            for cut in stride(from: f.dataOffset, to: b.count, by: fixture == "small_v2.gguf" ? 1 : 7) {
                let tmp = TempFile(Array(b[0..<cut]))
                defer { tmp.remove() }
                if cut < lastEnd {
                    #expect(throws: BitternError.self, "\(fixture) cut at \(cut)") { _ = try GGUFFile(path: tmp.path) }
                } else {
                    _ = try GGUFFile(path: tmp.path)  // trailing padding may go
                }
            }
        }
    }

    @Test func malformedHeaders() throws {
        let good = GGUFFixtures.bytes("ternary_v3.gguf")
        func mutated(_ change: (inout [UInt8]) throws -> Void) rethrows -> [UInt8] {
            var b = good
            try change(&b)
            return b
        }
        // magic and version
        expectRefused(mutated { $0[0] = 0x46 }, "not a GGUF file", "bad magic")
        expectRefused(mutated { $0.put32(1, at: 4) }, "version 1", "v1")
        expectRefused(mutated { $0.put32(4, at: 4) }, "unknown GGUF version 4", "v4")
        expectRefused(mutated { $0.put32(0, at: 4) }, "unknown GGUF version 0", "v0")
        expectRefused(mutated { $0.put32(0x0300_0000, at: 4) }, "big-endian", "byte-swapped version")
        expectRefused([], "empty", "empty file")
        // absurd counts
        for n: UInt64 in [UInt64.max, 1 << 63, 1 << 40, 1_000_000] {
            expectRefused(mutated { $0.put64(n, at: 8) }, "tensor count", "tensor count \(n)")
            expectRefused(mutated { $0.put64(n, at: 16) }, "key/value count", "kv count \(n)")
        }
        // strings whose length runs past the end
        for n: UInt64 in [UInt64.max, UInt64(Int.max), UInt64(good.count), 1 << 32] {
            expectRefused(mutated { $0.put64(n, at: 24) }, nil, "first key length \(n)")
            let s = try #require(good.afterString("test.string"))
            expectRefused(mutated { $0.put64(n, at: s + 4) }, "test.string", "string value length \(n)")
            let arr = try #require(good.afterString("test.arr.u8"))
            expectRefused(mutated { $0.put64(n, at: arr + 8) }, "test.arr.u8", "array count \(n)")
            let strs = try #require(good.afterString("test.arr.string"))
            expectRefused(mutated { $0.put64(n, at: strs + 8) }, "test.arr.string", "string array count \(n)")
            expectRefused(mutated { $0.put64(n, at: strs + 16) }, "test.arr.string", "string array element length \(n)")
            let nested = try #require(good.afterString("test.arr.nested"))
            expectRefused(mutated { $0.put64(n, at: nested + 20) }, "test.arr.nested", "inner array count \(n)")
        }
        // value types
        let u8 = try #require(good.afterString("test.u8"))
        expectRefused(mutated { $0.put32(13, at: u8) }, "unknown value type 13", "unknown value type")
        let arr = try #require(good.afterString("test.arr.i8"))
        expectRefused(mutated { $0.put32(77, at: arr + 4) }, "test.arr.i8", "unknown array element type")
        let bool = try #require(good.afterString("test.bool"))
        expectRefused(mutated { $0[bool + 4] = 2 }, "test.bool", "bool byte 2")
        // duplicates
        let i8 = try #require(good.afterString("test.i8"))
        expectRefused(mutated { $0[i8 - 2] = UInt8(ascii: "u") }, "duplicate metadata key 'test.u8'", "duplicate key")
        let f16 = try #require(good.afterString("w.f16"))
        expectRefused(mutated { $0[f16 - 2] = UInt8(ascii: "3"); $0[f16 - 1] = UInt8(ascii: "2") },
                      "duplicate tensor name 'w.f32'", "duplicate tensor")
        // tensor infos
        let w = try info(good, "w.f32")
        expectRefused(mutated { $0.put32(5, at: w.nDims) }, "w.f32", "n_dims 5")
        expectRefused(mutated { $0.put64(1 << 40, at: w.dims); $0.put64(1 << 40, at: w.dims + 8) }, "overflow", "dims overflow")
        expectRefused(mutated { $0.put64(1 << 61, at: w.dims); $0.put64(2, at: w.dims + 8) }, "w.f32", "byte size overflow")
        expectRefused(mutated { $0.put64(UInt64.max, at: w.dims) }, "w.f32", "dim > Int.max")
        expectRefused(mutated { $0.put64(1 << 20, at: w.dims) }, "w.f32", "dims past the end")
        expectRefused(mutated { $0.put32(99, at: w.type) }, "99", "unknown type 99")
        expectRefused(mutated { $0.put32(99, at: w.type) }, "w.f32", "unknown type names the tensor")
        expectRefused(mutated { $0.put32(39, at: w.type) }, "MXFP4", "type 39")
        expectRefused(mutated { $0.put32(37, at: w.type) }, "I8_S", "type 37")
        expectRefused(mutated { $0.put64(1 << 40, at: w.offset) }, "past the end", "offset past the end")
        expectRefused(mutated { $0.put64(UInt64.max - 31, at: w.offset) }, "w.f32", "offset > Int.max")
        expectRefused(mutated { $0.put64(UInt64(Int.max) - 31, at: w.offset) }, "w.f32", "offset + size overflows")
        expectRefused(mutated { $0.put64(4, at: w.offset) }, "alignment", "unaligned offset")
        let f16info = try info(good, "w.f16")
        expectRefused(mutated { $0.put64(good.get64(w.offset), at: f16info.offset) }, "overlap", "overlapping tensors")
        let tq = try info(good, "w.tq2_0")
        expectRefused(mutated { $0.put64(700, at: tq.dims) }, "block size", "ne0 not a multiple of 256")
        let i2 = try info(good, "w.i2_s")
        expectRefused(mutated { $0.put64(255, at: i2.dims) }, "w.i2_s", "I2_S ne0 not a multiple of 4")
        expectRefused(mutated { $0.put64(1 << 16, at: i2.dims) }, "w.i2_s", "I2_S data past the end")
    }

    @Test func badAlignment() throws {
        let good = GGUFFixtures.bytes("small_v2.gguf")
        let a = try #require(good.afterString("general.alignment"))
        #expect(good.get32(a) == 4 && good.get32(a + 4) == 64)
        for v: UInt32 in [0, 3, 48, 1 << 31] {
            var b = good
            b.put32(v, at: a + 4)
            expectRefused(b, "alignment", "alignment \(v)")
        }
        var b = good
        b.put32(6, at: a)  // float32
        expectRefused(b, "general.alignment", "alignment of type float32")
    }

    @Test func ternaryScaleRules() throws {
        let good = GGUFFixtures.bytes("ternary_v3.gguf")
        let f = try open("ternary_v3.gguf")
        func decode(_ b: [UInt8], _ name: String) throws -> CanonicalTernary {
            let tmp = TempFile(b)
            defer { tmp.remove() }
            return try GGUFFile(path: tmp.path).ternary(name)
        }
        func refused(_ b: [UInt8], _ name: String, _ mention: String, _ what: String) {
            do {
                _ = try decode(b, name)
                Issue.record("accepted: \(what)")
            } catch let e as BitternError {
                #expect(e.status == Status.format && e.message.contains(name) && e.message.contains(mention), "\(what): \(e.message)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        for (name, bpb) in [("w.tq2_0", 66), ("w.tq1_0", 54)] {
            let t = try #require(f.tensor(named: name))
            let start = f.dataOffset + t.offset
            let ref = try f.ternary(name)
            // block 2 is nonzero in both fixtures
            let d = start + 2 * bpb + bpb - 2
            let h = UInt16(good[d]) | UInt16(good[d + 1]) << 8
            var b = good
            b[d] = UInt8(truncatingIfNeeded: h + 1)  // one f16 ulp: accepted (f16 rounding)
            #expect(try decode(b, name).trits == ref.trits)
            b = good
            b[d] = UInt8(truncatingIfNeeded: h + 40)
            refused(b, name, "scale", "\(name) block scale differs")
            for bad: UInt16 in [0x7e00, 0x7c00, 0x8000 | h] {  // NaN, inf, negative
                b = good
                b[d] = UInt8(truncatingIfNeeded: bad)
                b[d + 1] = UInt8(truncatingIfNeeded: bad >> 8)
                refused(b, name, "scale", "\(name) scale \(bad)")
            }
            // A zero scale makes its block all zeros (that is what it dequantizes to).
            b = good
            b[d] = 0; b[d + 1] = 0
            let z = try decode(b, name)
            #expect(z.trits[512..<768].allSatisfy { $0 == 0 })
            #expect(z.trits[0..<512] == ref.trits[0..<512])
        }
        // TQ2_0 code 3 is invalid.
        let tq2 = try #require(f.tensor(named: "w.tq2_0"))
        var b = good
        b[f.dataOffset + tq2.offset + 70] = 0xff
        refused(b, "w.tq2_0", "code 3", "TQ2_0 code 3")
        // I2_S: code 3 and a NaN scale.
        let i2 = try #require(f.tensor(named: "w.i2_s"))
        b = good
        b[f.dataOffset + i2.offset + 5] = 0xff
        refused(b, "w.i2_s", "code 3", "I2_S code 3")
        b = good
        b.put32(Float.nan.bitPattern, at: f.dataOffset + i2.offset + 256)
        refused(b, "w.i2_s", "scale", "I2_S NaN scale")
    }

    @Test func syntheticFiles() throws {
        // No tensors, no data section: valid.
        var g = GGUFBuilder(tensors: 0, kvs: 1)
        g.string("k"); g.u32(GGUFValueType.uint32.rawValue); g.u32(7)
        var tmp = TempFile(g.bytes)
        let f = try GGUFFile(path: tmp.path)
        #expect(f.tensors.isEmpty)
        #expect(try f.int("k") == 7)
        tmp.remove()
        // An empty array keeps its element type.
        g = GGUFBuilder(tensors: 0, kvs: 1)
        g.string("e"); g.u32(9); g.u32(8); g.u64(0)
        tmp = TempFile(g.bytes)
        #expect(try GGUFFile(path: tmp.path).array("e") == .string([]))
        tmp.remove()
        // Nesting depth: 3 levels accepted, 9 refused.
        for (depth, ok) in [(3, true), (9, false), (100_000, false)] {
            g = GGUFBuilder(tensors: 0, kvs: 1)
            g.string("deep"); g.u32(9)
            for _ in 0..<(depth - 1) { g.u32(9); g.u64(1) }
            g.u32(0); g.u64(1); g.bytes.append(42)
            if ok {
                tmp = TempFile(g.bytes)
                _ = try GGUFFile(path: tmp.path)
                tmp.remove()
            } else {
                expectRefused(g.bytes, "deep", "nesting \(depth)")
            }
        }
        // A huge element count of 1-byte bools that the file cannot hold.
        g = GGUFBuilder(tensors: 0, kvs: 1)
        g.string("b"); g.u32(9); g.u32(7); g.u64(1 << 40)
        expectRefused(g.bytes, "b", "bool array count")
        // Zero-size tensor and a 0-d tensor; then a file whose tensor infos claim more bytes than exist.
        g = GGUFBuilder(tensors: 2, kvs: 0)
        g.string("z"); g.u32(2); g.u64(0); g.u64(4); g.u32(0); g.u64(0)
        g.string("s"); g.u32(0); g.u32(0); g.u64(0)
        g.pad(32)
        g.bytes += [0, 0, 0xc0, 0x3f]  // 1.5
        tmp = TempFile(g.bytes)
        let zs = try GGUFFile(path: tmp.path)
        #expect(zs.tensor(named: "z")?.byteCount == 0)
        #expect(try zs.floats("s") == [1.5])
        tmp.remove()
        expectRefused(Array(g.bytes.dropLast()), "'s'", "0-d tensor cut short")
        // Not a regular file / missing file: io errors.
        do {
            _ = try GGUFFile(path: "/tmp")
            Issue.record("directory accepted")
        } catch let e as BitternError { #expect(e.status == Status.io) }
        do {
            _ = try GGUFFile(path: "/nonexistent/x.gguf")
            Issue.record("missing file accepted")
        } catch let e as BitternError { #expect(e.status == Status.io && e.message.contains("x.gguf")) }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        // Fuzz-ish: flip single header bytes; the reader may accept or refuse, but never trap.
        let good = GGUFFixtures.bytes("small_v2.gguf")
        let f = try open("small_v2.gguf")
        var rng = TestRng(5)
        for i in 0..<f.dataOffset {
            var b = good
            b[i] ^= UInt8(truncatingIfNeeded: rng.next() >> 56) | 1
            let tmp = TempFile(b)
            defer { tmp.remove() }
            do {
                let g = try GGUFFile(path: tmp.path)
                for t in g.tensors {
                    _ = try? g.ternary(t.name)
                    _ = try? g.floats(t.name)
                }
            } catch let e as BitternError {
                #expect(e.status == Status.format || e.status == Status.io)
            }
        }
    }
}

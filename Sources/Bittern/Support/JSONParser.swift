#if canImport(Glibc)
import Glibc
#endif

/// A strict RFC 8259 JSON parser into `JSON` (safetensors headers, Hugging Face config and tokenizer files).
/// Input comes from downloaded files, so every failure is an error naming the byte offset, nesting is
/// bounded, and nothing is allocated beyond what the input's bytes justify.
public struct JSONParser {
    /// Deeper nesting is refused (Hugging Face files nest a few levels; the bound keeps recursion safe).
    public static let maxDepth = 128

    private let bytes: UnsafeBufferPointer<UInt8>
    private let what: String
    private var pos = 0

    /// Parses one JSON value that must span the whole input (whitespace around it allowed).
    /// `what` names the input in error messages (e.g. a file path).
    public static func parse(_ input: UnsafeRawBufferPointer, what: String) throws -> JSON {
        let b = input.bindMemory(to: UInt8.self)
        var p = JSONParser(bytes: b, what: what)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == b.count else { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    public static func parse(_ input: [UInt8], what: String) throws -> JSON {
        try input.withUnsafeBytes { try parse($0, what: what) }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, what: String) {
        self.bytes = bytes
        self.what = what
    }

    private func fail(_ m: String) -> BitternError { .format("\(what): invalid JSON at byte \(pos): \(m)") }

    private var atEnd: Bool { pos >= bytes.count }

    private mutating func skipSpace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: StaticString, _ v: JSON) throws -> JSON {
        let n = literal.utf8CodeUnitCount
        guard bytes.count - pos >= n else { throw fail("truncated literal") }
        let lit = UnsafeBufferPointer(start: literal.utf8Start, count: n)
        for i in 0..<n where bytes[pos + i] != lit[i] { throw fail("invalid literal") }
        pos += n
        return v
    }

    private mutating func value(depth: Int) throws -> JSON {
        guard !atEnd else { throw fail("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character 0x\(String(bytes[pos], radix: 16))")
        }
    }

    private mutating func object(depth: Int) throws -> JSON {
        guard depth <= JSONParser.maxDepth else { throw fail("nested deeper than \(JSONParser.maxDepth) levels") }
        pos += 1
        var fields: [(String, JSON)] = []
        skipSpace()
        if !atEnd, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(fields) }
        while true {
            skipSpace()
            guard !atEnd, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard !atEnd, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            pos += 1
            skipSpace()
            fields.append((key, try value(depth: depth)))
            skipSpace()
            guard !atEnd else { throw fail("unterminated object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(fields) }
            throw fail("expected ',' or '}' in an object")
        }
    }

    private mutating func array(depth: Int) throws -> JSON {
        guard depth <= JSONParser.maxDepth else { throw fail("nested deeper than \(JSONParser.maxDepth) levels") }
        pos += 1
        var items: [JSON] = []
        skipSpace()
        if !atEnd, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth))
            skipSpace()
            guard !atEnd else { throw fail("unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']' in an array")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - pos >= 4 else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    /// A string; invalid UTF-8 in the input and lone surrogate escapes are errors (JSON text is UTF-8).
    private mutating func string() throws -> String {
        pos += 1
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count, bytes[pos] != UInt8(ascii: "\""), bytes[pos] != UInt8(ascii: "\\") {
            guard bytes[pos] >= 0x20 else { throw fail("control character in a string") }
            pos += 1
        }
        guard !atEnd else { throw fail("unterminated string") }
        var raw = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while true {
            guard !atEnd else { throw fail("unterminated string") }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; break }
            guard c >= 0x20 else { throw fail("control character in a string") }
            guard c == UInt8(ascii: "\\") else { raw.append(c); pos += 1; continue }
            pos += 1
            guard !atEnd else { throw fail("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): raw.append(0x22)
            case UInt8(ascii: "\\"): raw.append(0x5C)
            case UInt8(ascii: "/"): raw.append(0x2F)
            case UInt8(ascii: "b"): raw.append(0x08)
            case UInt8(ascii: "f"): raw.append(0x0C)
            case UInt8(ascii: "n"): raw.append(0x0A)
            case UInt8(ascii: "r"): raw.append(0x0D)
            case UInt8(ascii: "t"): raw.append(0x09)
            case UInt8(ascii: "u"):
                var u = try hex4()
                if (0xD800..<0xDC00).contains(u) {
                    guard bytes.count - pos >= 6, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate escape")
                    }
                    pos += 2
                    let lo = try hex4()
                    guard (0xDC00..<0xE000).contains(lo) else { throw fail("unpaired surrogate escape") }
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..<0xE000).contains(u) {
                    throw fail("unpaired surrogate escape")
                }
                raw.append(contentsOf: String(Unicode.Scalar(u)!).utf8)
            default: throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
        guard let s = String(validatingUTF8Bytes: raw) else { throw fail("string is not valid UTF-8") }
        return s
    }

    private mutating func number() throws -> JSON {
        let start = pos
        var integral = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.pos
            while p.pos < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.pos]) { p.pos += 1 }
            return p.pos - s
        }
        let intStart = pos
        let n = digits(&self)
        guard n > 0 else { throw fail("a number needs digits") }
        guard !(n > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw fail("leading zero in a number") }
        if !atEnd, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            guard digits(&self) > 0 else { throw fail("digits expected after '.'") }
        }
        if !atEnd, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if !atEnd, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw fail("digits expected in an exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if integral, let i = Int(text) { return .int(i) }
        guard let d = Double(text), d.isFinite else { throw fail("number \(text) is out of range") }
        return .double(d)
    }
}

extension String {
    /// The string of these bytes when they are valid UTF-8; nil otherwise (no replacement characters).
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: self = String(decoding: bytes, as: UTF8.self); return
            case .error: return nil
            }
        }
    }
}

extension JSON {
    /// The value of `key` in an object (the first one; nil when absent or not an object).
    public subscript(key: String) -> JSON? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d): return d == d.rounded() && abs(d) < 9.0e15 ? Int(d) : nil
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [(String, JSON)]? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

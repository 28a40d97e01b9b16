/// The regex pre-tokenizers of byte-level BPE vocabularies, written out by hand as the state machines their
/// patterns describe (ordered alternation, greedy, with the backtracking the patterns imply), over bytes:
/// any byte string is valid input, and a byte that does not start a valid UTF-8 sequence is one unit of
/// the "other" class (neither letter, number nor space), which is how it reaches the byte-level BPE.
///
///  llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
///          |\s*[\r\n]+|\s+(?!\S)|\s+
///  gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// \p{L} and \p{N} are the Unicode general categories L* and N*, \s the White_Space property (as in the
/// Oniguruma engine Hugging Face tokenizers uses).
public enum PreTokenizer: String, Sendable {
    case llama3
    case gpt2

    /// Pieces of `text` as byte ranges, in order, covering every byte.
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        let units = UnitScanner.scan(text)
        switch self {
        case .llama3: return Self.splitLlama3(units, byteCount: text.count)
        case .gpt2: return Self.splitGPT2(units, byteCount: text.count)
        }
    }

    private static func splitLlama3(_ u: Units, byteCount: Int) -> [Range<Int>] {
        let n = u.count
        var out = [Range<Int>]()
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        func emit(_ end: Int) { out.append(u.offset[i]..<(end < n ? u.offset[end] : byteCount)); i = end }
        while i < n {
            let c = u.cls[i]
            if let len = contraction(u, i, caseInsensitive: true) { emit(i + len); continue }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if c == .letter || (c != .newline && c != .number && i + 1 < n && u.cls[i + 1] == .letter) {
                var j = i + 1
                while j < n && u.cls[j] == .letter { j += 1 }
                emit(j); continue
            }
            // \p{N}{1,3}
            if c == .number {
                var j = i + 1
                while j < n && j < i + 3 && u.cls[j] == .number { j += 1 }
                emit(j); continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            if c == .other || (u.scalar[i] == 0x20 && i + 1 < n && u.cls[i + 1] == .other) {
                var j = c == .other ? i : i + 1
                while j < n && u.cls[j] == .other { j += 1 }
                while j < n && u.cls[j] == .newline { j += 1 }
                emit(j); continue
            }
            // Whitespace (c is .space or .newline). \s*[\r\n]+ ends after the run's last CR/LF.
            var end = i, lastNewline = -1
            while end < n && u.cls[end].isSpace {
                if u.cls[end] == .newline { lastNewline = end }
                end += 1
            }
            if lastNewline >= 0 { emit(lastNewline + 1); continue }
            emit(whitespaceRunEnd(start: i, end: end, count: n))
        }
        return out
    }

    private static func splitGPT2(_ u: Units, byteCount: Int) -> [Range<Int>] {
        let n = u.count
        var out = [Range<Int>]()
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        func emit(_ end: Int) { out.append(u.offset[i]..<(end < n ? u.offset[end] : byteCount)); i = end }
        while i < n {
            if let len = contraction(u, i, caseInsensitive: false) { emit(i + len); continue }
            let j0 = u.scalar[i] == 0x20 && i + 1 < n ? i + 1 : i
            let c = u.cls[j0]
            if c == .letter || c == .number || c == .other {
                var j = j0 + 1
                while j < n && u.cls[j] == c { j += 1 }
                emit(j); continue
            }
            var end = i
            while end < n && u.cls[end].isSpace { end += 1 }
            emit(whitespaceRunEnd(start: i, end: end, count: n))
        }
        return out
    }

    /// \s+(?!\S)|\s+ on the whitespace run [start, end): the run, less its last unit when a non-space
    /// follows and the run is longer than one (that unit then prefixes the next piece).
    private static func whitespaceRunEnd(start: Int, end: Int, count: Int) -> Int {
        if end == count || end - start < 2 { return end }
        return end - 1
    }

    /// Length in units of 's 't 're 've 'm 'll 'd at i, or nil.
    private static func contraction(_ u: Units, _ i: Int, caseInsensitive: Bool) -> Int? {
        guard u.scalar[i] == 0x27, i + 1 < u.count else { return nil }
        func letter(_ k: Int) -> UInt32 {
            guard k < u.count else { return 0 }
            let s = u.scalar[k]
            guard caseInsensitive else { return s }
            if s >= 0x41 && s <= 0x5A { return s + 0x20 }
            if s == 0x17F { return 0x73 }      // LATIN SMALL LETTER LONG S folds to 's'
            return s
        }
        switch letter(i + 1) {
        case 0x73, 0x74, 0x6D, 0x64: return 2                               // s t m d
        case 0x72, 0x76: return letter(i + 2) == 0x65 ? 3 : nil              // re ve
        case 0x6C: return letter(i + 2) == 0x6C ? 3 : nil                   // ll
        default: return nil
        }
    }
}

enum UnitClass: UInt8 {
    case letter, number, space, newline, other
    var isSpace: Bool { self == .space || self == .newline }
}

/// The text cut into units (Unicode scalars, or single bytes that are not valid UTF-8).
struct Units {
    var offset: [Int] = []
    var scalar: [UInt32] = []      // 0xFFFF_FFFF for an invalid byte
    var cls: [UnitClass] = []
    var count: Int { offset.count }
}

enum UnitScanner {
    static let asciiClass: [UnitClass] = (0..<128).map { b in
        switch b {
        case 0x0A, 0x0D: return .newline
        case 0x09, 0x0B, 0x0C, 0x20: return .space
        case 0x30...0x39: return .number
        case 0x41...0x5A, 0x61...0x7A: return .letter
        default: return .other
        }
    }

    static func classify(_ s: Unicode.Scalar) -> UnitClass {
        if s.value < 128 { return asciiClass[Int(s.value)] }
        let p = s.properties
        if p.isWhitespace { return .space }     // U+0085, U+2028 and U+2029 are \s but not [\r\n]
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    static func scan(_ t: UnsafeBufferPointer<UInt8>) -> Units {
        var u = Units()
        let n = t.count
        u.offset.reserveCapacity(n); u.scalar.reserveCapacity(n); u.cls.reserveCapacity(n)
        var i = 0
        while i < n {
            let b0 = t[i]
            if b0 < 0x80 {
                u.offset.append(i); u.scalar.append(UInt32(b0)); u.cls.append(asciiClass[Int(b0)])
                i += 1
                continue
            }
            if let (value, len) = decodeUTF8(t, i) {
                u.offset.append(i); u.scalar.append(value)
                u.cls.append(classify(Unicode.Scalar(value)!))
                i += len
            } else {
                u.offset.append(i); u.scalar.append(0xFFFF_FFFF); u.cls.append(.other)
                i += 1
            }
        }
        return u
    }

    /// A well-formed multi-byte sequence at i (no overlongs, no surrogates, <= U+10FFFF), or nil.
    static func decodeUTF8(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int)? {
        let b0 = UInt32(t[i]), n = t.count
        func cont(_ k: Int) -> UInt32? {
            guard i + k < n, t[i + k] & 0xC0 == 0x80 else { return nil }
            return UInt32(t[i + k] & 0x3F)
        }
        switch b0 {
        case 0xC2...0xDF:
            guard let c1 = cont(1) else { return nil }
            return ((b0 & 0x1F) << 6 | c1, 2)
        case 0xE0...0xEF:
            guard let c1 = cont(1), let c2 = cont(2) else { return nil }
            let v = (b0 & 0x0F) << 12 | c1 << 6 | c2
            guard v >= 0x800, !(0xD800...0xDFFF).contains(v) else { return nil }
            return (v, 3)
        case 0xF0...0xF4:
            guard let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) else { return nil }
            let v = (b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            guard v >= 0x10000, v <= 0x10FFFF else { return nil }
            return (v, 4)
        default:
            return nil
        }
    }
}

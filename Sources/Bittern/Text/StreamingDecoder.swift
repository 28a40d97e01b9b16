/// Turns a stream of tokens into text pieces that are always valid UTF-8: bytes of a character split
/// across tokens are held until the character is complete; bytes that can never complete a character
/// are replaced by U+FFFD. Control tokens are rendered as their text unless `skipSpecial`.
public struct StreamingDecoder {
    public let tokenizer: Tokenizer
    public var skipSpecial: Bool
    private var pending: [UInt8] = []
    private var atStart = true

    public init(tokenizer: Tokenizer, skipSpecial: Bool = true, atStart: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
        self.atStart = atStart
    }

    /// The text that token completes (possibly empty).
    public mutating func push(_ token: Int32) -> String {
        guard tokenizer.isValid(token) else { return "" }
        let type = tokenizer.types[Int(token)]
        if type == .control && skipSpecial { return "" }
        var p = tokenizer.piece(token)[...]
        if atStart, type != .control, case .sentencePiece = tokenizer.kind, tokenizer.addSpacePrefix, p.first == 0x20 {
            p = p.dropFirst()
        }
        if type != .control { atStart = false }
        pending.append(contentsOf: p)
        return drain(final: false)
    }

    /// Whatever is still held, with an incomplete trailing character replaced by U+FFFD.
    public mutating func finish() -> String { drain(final: true) }

    private mutating func drain(final: Bool) -> String {
        var out = [UInt8]()
        var i = 0
        let n = pending.count
        pending.withUnsafeBufferPointer { t in
            while i < n {
                let b = t[i]
                if b < 0x80 { out.append(b); i += 1; continue }
                if let (_, len) = UnitScanner.decodeUTF8(t, i) {
                    out.append(contentsOf: t[i..<(i + len)]); i += len; continue
                }
                // A truncated or broken sequence becomes one U+FFFD for its longest valid prefix (the
                // "maximal subpart" rule of Unicode and WHATWG); one still being completed is held.
                let k = Self.validPrefixLength(t, from: i)
                if !final && i + k == n && k > 0 { break }
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += max(k, 1)
            }
        }
        pending.removeFirst(i)
        return String(decoding: out, as: UTF8.self)
    }

    /// How many bytes from i (0-3) are a proper prefix of some well-formed UTF-8 sequence: the lead byte
    /// and the continuation bytes that still fit (0 when t[i] cannot start a sequence).
    static func validPrefixLength(_ t: UnsafeBufferPointer<UInt8>, from i: Int) -> Int {
        let b0 = t[i]
        let need: Int
        switch b0 {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return 0
        }
        var k = 1
        while k < need && i + k < t.count {
            let c = t[i + k]
            guard c & 0xC0 == 0x80 else { break }
            if k == 1 {   // the second byte's narrower ranges (no overlongs, surrogates, > U+10FFFF)
                if b0 == 0xE0 && c < 0xA0 { break }
                if b0 == 0xED && c > 0x9F { break }
                if b0 == 0xF0 && c < 0x90 { break }
                if b0 == 0xF4 && c > 0x8F { break }
            }
            k += 1
        }
        return min(k, need - 1)
    }
}

/// GPT-2's byte-to-character table, used by every byte-level BPE vocabulary (GPT-2, Llama-3, 2B4T):
/// printable bytes stand for themselves; the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) are moved
/// to U+0100 and up, in byte order, so that every token is a printable string.
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse table: scalar value -> byte, for scalars below 0x200; -1 where a scalar stands for no byte.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x200)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    /// The bytes a byte-level token string stands for; nil if a character is outside the table (such a
    /// token, e.g. an added token written as plain text, is then taken as its UTF-8 bytes by the caller).
    static func decode(_ token: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard s.value < 0x200 else { return nil }
            let b = scalarToByte[Int(s.value)]
            guard b >= 0 else { return nil }
            out.append(UInt8(b))
        }
        return out
    }

    /// The token string standing for these bytes.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }
}

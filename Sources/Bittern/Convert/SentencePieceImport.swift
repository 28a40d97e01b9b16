/// Reads a SentencePiece `tokenizer.model` (the ModelProto protobuf of Llama-2 style vocabularies, as
/// 1bitLLM's checkpoints ship) into the GGUF keys of llama.cpp's "llama" tokenizer: pieces, scores, token
/// types (SentencePiece's NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6 are llama.cpp's
/// numbers too), BOS/EOS/UNK ids and add_space_prefix.
enum SentencePieceImport {
    struct Vocabulary {
        var pieces: [String] = []
        var scores: [Float] = []
        var types: [Int32] = []
        var unk = 0, bos = 1, eos = 2
        var addDummyPrefix = true
    }

    /// A bounds-checked protobuf wire-format reader (varint, fixed32/64, length-delimited).
    struct Wire {
        let bytes: UnsafeRawBufferPointer
        var pos = 0
        let what: String

        func fail(_ m: String) -> BitternError { .format("\(what): \(m) at byte \(pos)") }

        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard pos < bytes.count else { throw fail("truncated varint") }
                let b = bytes[pos]
                pos += 1
                v |= UInt64(b & 0x7f) << UInt64(shift)
                if b & 0x80 == 0 { return v }
            }
            throw fail("varint longer than 10 bytes")
        }

        /// The next field: number, wire type, and for length-delimited fields the payload range.
        mutating func field() throws -> (number: UInt64, type: UInt64, payload: Range<Int>?, value: UInt64) {
            let key = try varint()
            let type = key & 7
            switch type {
            case 0: return (key >> 3, type, nil, try varint())
            case 1, 5:
                let n = type == 1 ? 8 : 4
                guard bytes.count - pos >= n else { throw fail("truncated fixed field") }
                var v: UInt64 = 0
                for i in 0..<n { v |= UInt64(bytes[pos + i]) << UInt64(8 * i) }
                pos += n
                return (key >> 3, type, nil, v)
            case 2:
                let len = try varint()
                guard len <= UInt64(bytes.count - pos) else { throw fail("length \(len) runs past the end") }
                let r = pos..<(pos + Int(len))
                pos += Int(len)
                return (key >> 3, type, r, 0)
            default:
                throw fail("unsupported wire type \(type)")
            }
        }
    }

    static func load(path: String) throws -> Vocabulary {
        let m = try Mapping(path: path, kind: "SentencePiece model")
        var voc = Vocabulary()
        var top = Wire(bytes: m.bytes, what: path)
        while top.pos < m.length {
            let f = try top.field()
            guard let r = f.payload else { continue }
            let sub = UnsafeRawBufferPointer(rebasing: m.bytes[r])
            var w = Wire(bytes: sub, what: path)
            switch f.number {
            case 1:   // SentencePiece { piece = 1; score = 2; type = 3 }
                var piece: String?
                var score: Float = 0
                var type: Int32 = 1
                while w.pos < sub.count {
                    let g = try w.field()
                    switch (g.number, g.type) {
                    case (1, 2):
                        let bytes = Array(UnsafeRawBufferPointer(rebasing: sub[g.payload!]))
                        guard let s = String(validatingUTF8Bytes: bytes) else { throw w.fail("piece \(voc.pieces.count) is not UTF-8") }
                        piece = s
                    case (2, 5): score = Float(bitPattern: UInt32(truncatingIfNeeded: g.value))
                    case (3, 0):
                        guard (1...6).contains(g.value) else { throw w.fail("piece \(voc.pieces.count) has unknown type \(g.value)") }
                        type = Int32(g.value)
                    default: break
                    }
                }
                guard let piece else { throw w.fail("piece \(voc.pieces.count) has no text") }
                voc.pieces.append(piece)
                voc.scores.append(score.isFinite ? score : 0)
                voc.types.append(type)
            case 2:   // TrainerSpec: unk_id = 40, bos_id = 41, eos_id = 42
                while w.pos < sub.count {
                    let g = try w.field()
                    guard g.type == 0 else { continue }
                    let v = Int(Int32(truncatingIfNeeded: g.value))
                    switch g.number {
                    case 40: voc.unk = v
                    case 41: voc.bos = v
                    case 42: voc.eos = v
                    default: break
                    }
                }
            case 3:   // NormalizerSpec: add_dummy_prefix = 3
                while w.pos < sub.count {
                    let g = try w.field()
                    if g.number == 3, g.type == 0 { voc.addDummyPrefix = g.value != 0 }
                }
            default: break
            }
        }
        guard !voc.pieces.isEmpty else { throw BitternError.format("\(path): no pieces (not a SentencePiece model?)") }
        return voc
    }
}

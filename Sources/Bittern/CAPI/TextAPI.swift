#if canImport(Glibc)
import Glibc
#endif
import BitternSupport

// Tokenization and detokenization of a model's vocabulary.

func tokenizer(_ m: OpaquePointer?) throws -> Tokenizer {
    let mod = try model(m)
    guard let t = mod.tokenizer else {
        throw BitternError.unsupported("\(mod.path) has no tokenizer (tokenizer.ggml.model is absent)")
    }
    return t
}

/// Copies bytes to a C buffer with the API's size protocol: count written, or -(needed) writing nothing.
func copyOut(_ bytes: [UInt8], _ buf: UnsafeMutablePointer<CChar>?, _ cap: Int32) throws -> Int32 {
    guard cap >= 0 else { throw BitternError.invalidArgument("capacity must be >= 0 (got \(cap))") }
    guard bytes.count < Int(Int32.max) else { throw BitternError.invalidArgument("text of \(bytes.count) bytes is too long for an int32 size") }
    if bytes.count > Int(cap) { return -Int32(bytes.count) }
    if !bytes.isEmpty {
        let buf = try require(buf, "buf")
        bytes.withUnsafeBytes { buf.update(from: $0.baseAddress!.assumingMemoryBound(to: CChar.self), count: bytes.count) }
    }
    return Int32(bytes.count)
}

@_cdecl("bittern_tokenize")
public func bittern_tokenize(_ m: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ len: Int, _ addSpecial: Bool,
                             _ parseSpecial: Bool, _ tokens: UnsafeMutablePointer<Int32>?, _ capacity: Int32) -> Int32 {
    do {
        let tok = try tokenizer(m)
        let n = UInt(bitPattern: len)
        guard n < UInt(Int32.max) else { throw BitternError.invalidArgument("len \(n) is too large (the token count must fit an int32)") }
        guard capacity >= 0 else { throw BitternError.invalidArgument("capacity must be >= 0 (got \(capacity))") }
        guard capacity == 0 || tokens != nil else { throw BitternError.invalidArgument("tokens is NULL with capacity \(capacity)") }
        let ids: [Int32]
        if n == 0 {
            ids = tok.encode(UnsafeBufferPointer(start: nil, count: 0), addSpecial: addSpecial, parseSpecial: parseSpecial)
        } else {
            let text = try require(text, "text")
            ids = text.withMemoryRebound(to: UInt8.self, capacity: Int(n)) {
                tok.encode(UnsafeBufferPointer(start: $0, count: Int(n)), addSpecial: addSpecial, parseSpecial: parseSpecial)
            }
        }
        guard ids.count <= Int(Int32.max) else { throw BitternError.invalidArgument("too many tokens") }
        if ids.count > Int(capacity) { return -Int32(ids.count) }
        if !ids.isEmpty { ids.withUnsafeBufferPointer { tokens!.update(from: $0.baseAddress!, count: ids.count) } }
        return Int32(ids.count)
    } catch {
        capiFail(error)
        return Int32.min
    }
}

func checkedToken(_ tok: Tokenizer, _ token: Int32) throws -> Int32 {
    guard tok.isValid(token) else {
        throw BitternError.invalidArgument("token \(token) is outside the vocabulary [0, \(tok.count))")
    }
    return token
}

@_cdecl("bittern_token_to_piece")
public func bittern_token_to_piece(_ m: OpaquePointer?, _ token: Int32, _ buf: UnsafeMutablePointer<CChar>?, _ cap: Int32) -> Int32 {
    do {
        let tok = try tokenizer(m)
        return try copyOut(tok.piece(try checkedToken(tok, token)), buf, cap)
    } catch {
        capiFail(error)
        return Int32.min
    }
}

@_cdecl("bittern_detokenize")
public func bittern_detokenize(_ m: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int32, _ skipSpecial: Bool,
                               _ buf: UnsafeMutablePointer<CChar>?, _ cap: Int32) -> Int32 {
    do {
        let tok = try tokenizer(m)
        guard n >= 0 else { throw BitternError.invalidArgument("n must be >= 0 (got \(n))") }
        var ids = [Int32]()
        if n > 0 {
            let p = try require(tokens, "tokens")
            ids = Array(UnsafeBufferPointer(start: p, count: Int(n)))
            for t in ids { _ = try checkedToken(tok, t) }
        }
        return try copyOut(tok.decode(ids, skipSpecial: skipSpecial), buf, cap)
    } catch {
        capiFail(error)
        return Int32.min
    }
}

private func specialId(_ m: OpaquePointer?, _ get: (Tokenizer) -> Int32?) -> Int32 {
    do { return get(try tokenizer(m)) ?? -1 } catch { capiFail(error); return -1 }
}

@_cdecl("bittern_token_bos")
public func bittern_token_bos(_ m: OpaquePointer?) -> Int32 { specialId(m) { $0.bos } }

@_cdecl("bittern_token_eos")
public func bittern_token_eos(_ m: OpaquePointer?) -> Int32 { specialId(m) { $0.eos } }

@_cdecl("bittern_token_eot")
public func bittern_token_eot(_ m: OpaquePointer?) -> Int32 { specialId(m) { $0.eot } }

@_cdecl("bittern_token_is_eog")
public func bittern_token_is_eog(_ m: OpaquePointer?, _ token: Int32) -> Bool {
    do { return try tokenizer(m).endOfGeneration.contains(token) } catch { capiFail(error); return false }
}

@_cdecl("bittern_token_is_control")
public func bittern_token_is_control(_ m: OpaquePointer?, _ token: Int32) -> Bool {
    do {
        let t = try tokenizer(m)
        return t.isValid(token) && t.types[Int(token)] == .control
    } catch { capiFail(error); return false }
}

// MARK: - streaming detokenizer

final class CDetokenizer {
    var decoder: StreamingDecoder
    let skipSpecial: Bool
    private var buffer: UnsafeMutablePointer<CChar>
    private var capacity = 64

    init(_ tok: Tokenizer, skipSpecial: Bool) {
        decoder = StreamingDecoder(tokenizer: tok, skipSpecial: skipSpecial)
        self.skipSpecial = skipSpecial
        buffer = .allocate(capacity: 64)
    }
    deinit { buffer.deallocate() }

    func push(_ token: Int32) throws -> (UnsafePointer<CChar>, Int) {
        let text: String
        if token == -1 {
            text = decoder.finish()
            decoder = StreamingDecoder(tokenizer: decoder.tokenizer, skipSpecial: skipSpecial)
        } else {
            text = decoder.push(try checkedToken(decoder.tokenizer, token))
        }
        let bytes = Array(text.utf8)
        if bytes.count + 1 > capacity {
            buffer.deallocate()
            capacity = bytes.count + 1
            buffer = .allocate(capacity: capacity)
        }
        bytes.withUnsafeBytes { if !bytes.isEmpty { buffer.update(from: $0.baseAddress!.assumingMemoryBound(to: CChar.self), count: bytes.count) } }
        buffer[bytes.count] = 0
        return (UnsafePointer(buffer), bytes.count)
    }
}

@_cdecl("bittern_detokenizer_create")
public func bittern_detokenizer_create(_ m: OpaquePointer?, _ skipSpecial: Bool,
                                       _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let tok = try tokenizer(m)
        out.pointee = Handles.register(CDetokenizer(tok, skipSpecial: skipSpecial), as: .detokenizer)
    }
}

@_cdecl("bittern_detokenizer_push")
public func bittern_detokenizer_push(_ d: OpaquePointer?, _ token: Int32, _ len: UnsafeMutablePointer<Int>?) -> UnsafePointer<CChar>? {
    do {
        let det = try Handles.resolve(d, as: CDetokenizer.self, kind: .detokenizer, what: "detokenizer")
        let (p, n) = try det.push(token)
        len?.pointee = n
        return p
    } catch {
        capiFail(error)
        return nil
    }
}

@_cdecl("bittern_detokenizer_free")
public func bittern_detokenizer_free(_ d: OpaquePointer?) {
    Handles.release(d, kind: .detokenizer)
}

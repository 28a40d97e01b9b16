import BitternSupport

// Models and contexts. A model handle holds one reference to its BitNetModel and every context holds
// another (ModelContext.model), so bittern_model_free with live contexts only drops the caller's
// reference: the model goes when the last context goes too.


@_cdecl("bittern_model_default_params")
public func bittern_model_default_params() -> bittern_model_params {
    bittern_model_params(size: UInt32(MemoryLayout<bittern_model_params>.size), head_type: nil,
                         progress: nil, progress_user_data: nil)
}

/// The head type a params field asks for (NULL: the default), or the documented error.
func headType(_ p: UnsafePointer<CChar>?) throws -> HeadType {
    guard let p else { return .default }
    let name = String(cString: p)
    guard let t = HeadType(rawValue: name) else {
        throw BitternError.invalidArgument(
            "unknown head_type '\(name)' (expected one of \(HeadType.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return t
}

func kvType(_ p: UnsafePointer<CChar>?) throws -> KVType {
    guard let p else { return .f16 }
    let name = String(cString: p)
    guard let t = KVType(rawValue: name) else {
        throw BitternError.invalidArgument("unknown kv_type '\(name)' (expected f16 or f32)")
    }
    return t
}

@_cdecl("bittern_model_load")
public func bittern_model_load(_ rt: OpaquePointer?, _ path: UnsafePointer<CChar>?,
                               _ params: UnsafePointer<bittern_model_params>?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let path = try requireString(path, "path")
        let p = try readParams(params, defaults: bittern_model_default_params(), what: "bittern_model_params")
        let head = try headType(p.head_type)
        let runtime = try runtime(rt)
        var progress: ((Float) -> Void)?
        if let cb = p.progress {
            let user = p.progress_user_data
            progress = { cb($0, user) }
        }
        let m = try BitNetModel(path: path, runtime: runtime, headType: head, progress: progress)
        out.pointee = Handles.register(m, as: .model)
    }
}

func model(_ m: OpaquePointer?) throws -> BitNetModel {
    try Handles.resolve(m, as: BitNetModel.self, kind: .model, what: "model")
}

@_cdecl("bittern_default_model_path")
public func bittern_default_model_path() -> UnsafeMutablePointer<CChar>? {
    do { return capiString(try DefaultModel.path()) } catch { capiFail(error); return nil }
}

@_cdecl("bittern_model_free")
public func bittern_model_free(_ m: OpaquePointer?) {
    Handles.release(m, kind: .model)
}

extension BitNetModel {
    public var json: JSON {
        let hp = hparams
        return .object([
            ("architecture", .string(hp.architecture)),
            ("n_vocab", .int(hp.vocabSize)),
            ("n_layer", .int(hp.blockCount)),
            ("n_embd", .int(hp.embeddingLength)),
            ("n_head", .int(hp.headCount)),
            ("n_head_kv", .int(hp.headCountKV)),
            ("n_ff", .int(hp.feedForwardLength)),
            ("context_length", .int(hp.contextLength)),
            ("head_type", .string(head.type.rawValue)),
            ("head_bytes", .int(head.bytes)),
            ("embedding_bytes", .int(embedding.bytes)),
            ("head_tied", .bool(headTied)),
            ("packed_bytes", .int(packedBytes)),
            ("backend", .string(runtime.backend.name)),
            ("path", .string(path)),
            ("tensors", .array(tensors.map { t in
                .object([("name", .string(t.name)), ("type", .string(t.type.name)),
                         ("dims", .array(t.dims.map { .int($0) }))])
            })),
        ])
    }
}

@_cdecl("bittern_model_describe")
public func bittern_model_describe(_ m: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    do { return capiString(try model(m).json.serialized()) } catch { capiFail(error); return nil }
}

@_cdecl("bittern_model_n_vocab")
public func bittern_model_n_vocab(_ m: OpaquePointer?) -> Int32 {
    do { return Int32(try model(m).hparams.vocabSize) } catch { capiFail(error); return -1 }
}

// MARK: - contexts

/// What a context handle holds: the ModelContext and a copy of the last decode's logits at a stable
/// address (bittern_logits hands out pointers into it, valid until the next decode/reset/truncate/free).
final class CContext {
    let ctx: ModelContext
    private var buffer: UnsafeMutablePointer<Float>?
    private var capacity = 0
    /// Whether `buffer` holds the logits of the last decode (false before any, after reset/truncate).
    private var hasLogits = false

    init(_ ctx: ModelContext) { self.ctx = ctx }

    deinit { buffer?.deallocate() }

    /// n is C's size_t, passed as Int: read back unsigned, so a huge n is not taken for a negative one.
    func decode(_ tokens: UnsafePointer<Int32>?, _ n: Int) throws {
        let count = UInt(bitPattern: n)
        guard count > 0 else { throw BitternError.invalidArgument("decode needs at least one token (n is 0)") }
        let tokens = try require(tokens, "tokens")
        // Checked before the tokens are copied, so a huge n is an error, not a huge allocation.
        guard count <= UInt(ctx.nCtx - ctx.position) else {
            throw BitternError(Status.contextFull,
                               "context full: \(ctx.position) tokens + \(count) new > n_ctx \(ctx.nCtx)")
        }
        try ctx.decode(tokens: Array(UnsafeBufferPointer(start: tokens, count: Int(count))))
        captureLogits()
    }

    /// Copies the context's last logits to the stable buffer (after a decode, or a generation that
    /// decoded through the ModelContext directly).
    func captureLogits() {
        guard ctx.logitsCount > 0 else { hasLogits = false; return }
        let logits = ctx.logits
        if logits.count > capacity {
            buffer?.deallocate()
            buffer = nil
            capacity = 0
            buffer = .allocate(capacity: logits.count)
            capacity = logits.count
        }
        logits.withUnsafeBufferPointer { buffer!.update(from: $0.baseAddress!, count: logits.count) }
        hasLogits = true
    }

    func logits(_ i: Int) throws -> UnsafePointer<Float> {
        guard hasLogits, let buffer else {
            throw BitternError.invalidArgument("no logits: nothing decoded since the context was created, reset or truncated")
        }
        let row = try ctx.logits(at: i)  // validates i against the last call and logits_all
        return UnsafePointer(buffer + row.startIndex)
    }

    func reset() {
        ctx.reset()
        hasLogits = false
    }

    func truncate(_ n: Int) throws {
        try ctx.truncate(to: n)
        hasLogits = false
    }
}

@_cdecl("bittern_context_default_params")
public func bittern_context_default_params() -> bittern_context_params {
    bittern_context_params(size: UInt32(MemoryLayout<bittern_context_params>.size), n_ctx: 0, logits_all: false,
                           kv_type: nil)
}

@_cdecl("bittern_context_create")
public func bittern_context_create(_ m: OpaquePointer?, _ params: UnsafePointer<bittern_context_params>?,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let mod = try model(m)
        let p = try readParams(params, defaults: bittern_context_default_params(), what: "bittern_context_params")
        let ctx = try mod.makeContext(nCtx: Int(p.n_ctx), logitsAll: p.logits_all, kvType: try kvType(p.kv_type))
        out.pointee = Handles.register(CContext(ctx), as: .context)
    }
}

func context(_ c: OpaquePointer?) throws -> CContext {
    try Handles.resolve(c, as: CContext.self, kind: .context, what: "context")
}

@_cdecl("bittern_context_free")
public func bittern_context_free(_ c: OpaquePointer?) {
    Handles.release(c, kind: .context)
}

@_cdecl("bittern_decode")
public func bittern_decode(_ c: OpaquePointer?, _ tokens: UnsafePointer<Int32>?, _ n: Int) -> Int32 {
    capiStatus { try context(c).decode(tokens, n) }
}

@_cdecl("bittern_logits")
public func bittern_logits(_ c: OpaquePointer?, _ i: Int32) -> UnsafePointer<Float>? {
    do { return try context(c).logits(Int(i)) } catch { capiFail(error); return nil }
}

@_cdecl("bittern_context_reset")
public func bittern_context_reset(_ c: OpaquePointer?) -> Int32 {
    capiStatus { try context(c).reset() }
}

@_cdecl("bittern_context_truncate")
public func bittern_context_truncate(_ c: OpaquePointer?, _ n: UInt32) -> Int32 {
    capiStatus { try context(c).truncate(Int(n)) }
}

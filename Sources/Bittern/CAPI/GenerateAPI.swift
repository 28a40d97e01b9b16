#if canImport(Glibc)
import Glibc
#endif
import BitternSupport

// Generation and chat over a context.

@_cdecl("bittern_generate_default_params")
public func bittern_generate_default_params() -> bittern_generate_params {
    bittern_generate_params(size: UInt32(MemoryLayout<bittern_generate_params>.size), max_tokens: 256,
                            sampling: bittern_sampler_default_params(), sampler: nil, stop: nil, n_stop: 0,
                            parse_special: false, result: nil)
}

@_cdecl("bittern_context_set_abort_callback")
public func bittern_context_set_abort_callback(_ c: OpaquePointer?, _ cb: bittern_abort_callback?,
                                               _ user: UnsafeMutableRawPointer?) -> Int32 {
    capiStatus {
        let ctx = try context(c)
        if let cb { ctx.ctx.shouldAbort = { cb(user) } } else { ctx.ctx.shouldAbort = nil }
    }
}

@_cdecl("bittern_context_n_tokens")
public func bittern_context_n_tokens(_ c: OpaquePointer?) -> Int32 {
    do { return Int32(try context(c).ctx.position) } catch { capiFail(error); return -1 }
}

/// The parts of bittern_generate_params the generator needs, checked.
private struct GenerateSetup {
    var generator = Generator()
    var sampler: Sampler
    var parseSpecial: Bool
    var result: UnsafeMutablePointer<bittern_generate_result>?

    init(_ params: UnsafePointer<bittern_generate_params>?, model: BitNetModel) throws {
        let p = try readParams(params, defaults: bittern_generate_default_params(), what: "bittern_generate_params")
        guard p.max_tokens >= -1 else { throw BitternError.invalidArgument("max_tokens must be >= -1 (got \(p.max_tokens))") }
        generator.maxTokens = Int(p.max_tokens)
        guard p.n_stop >= 0 else { throw BitternError.invalidArgument("n_stop must be >= 0 (got \(p.n_stop))") }
        if p.n_stop > 0 {
            let list = try require(p.stop, "stop")
            generator.stopStrings = try (0..<Int(p.n_stop)).map { try requireString(list[$0], "stop[\($0)]") }
        }
        if let s = p.sampler {
            sampler = try Handles.resolve(s, as: Sampler.self, kind: .sampler, what: "params.sampler")
            guard sampler.vocabSize == model.hparams.vocabSize else {
                throw BitternError.invalidArgument("params.sampler was made for another vocabulary size (\(sampler.vocabSize), the model has \(model.hparams.vocabSize))")
            }
        } else {
            // The nested struct has its own size: fields past it keep their defaults.
            var nested = p.sampling
            let sp = try withUnsafePointer(to: &nested) {
                try readParams($0, defaults: bittern_sampler_default_params(), what: "params.sampling")
            }
            sampler = try Sampler(vocabSize: model.hparams.vocabSize, params: SamplerParams(sp))
        }
        parseSpecial = p.parse_special
        result = p.result
    }

    func run(_ cctx: CContext, prompt: [Int32], cb: bittern_text_callback?, user: UnsafeMutableRawPointer?) throws {
        defer { cctx.captureLogits() }
        let r = try generator.run(context: cctx.ctx, prompt: prompt, sampler: sampler) { text, token in
            guard let cb else { return true }
            var t = text
            return t.withUTF8 { b in
                // A NUL-terminated copy: the callback may treat text as a C string.
                let buf = UnsafeMutablePointer<CChar>.allocate(capacity: b.count + 1)
                defer { buf.deallocate() }
                if b.count > 0 { buf.update(from: UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self), count: b.count) }
                buf[b.count] = 0
                return cb(buf, b.count, token, user)
            }
        }
        result?.pointee = bittern_generate_result(
            n_prompt_tokens: Int32(r.promptTokens), n_reused_tokens: Int32(r.reusedTokens),
            n_generated: Int32(r.generatedTokens), finish_reason: r.finish.rawValue,
            prefill_ms: r.prefillSeconds * 1000, decode_ms: r.decodeSeconds * 1000)
    }
}

@_cdecl("bittern_generate")
public func bittern_generate(_ c: OpaquePointer?, _ prompt: UnsafePointer<CChar>?,
                             _ params: UnsafePointer<bittern_generate_params>?,
                             _ cb: bittern_text_callback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    capiStatus {
        let cctx = try context(c)
        let prompt = try require(prompt, "prompt")
        let tok = try cctx.ctx.model.tokenizer ?? {
            throw BitternError.unsupported("\(cctx.ctx.model.path) has no tokenizer")
        }()
        let setup = try GenerateSetup(params, model: cctx.ctx.model)
        // The prompt's bytes as they are (any bytes are valid tokenizer input), not repaired to UTF-8.
        let ids = prompt.withMemoryRebound(to: UInt8.self, capacity: strlen(prompt)) {
            tok.encode(UnsafeBufferPointer(start: $0, count: strlen(prompt)), addSpecial: cctx.ctx.position == 0,
                       parseSpecial: setup.parseSpecial)
        }
        try setup.run(cctx, prompt: ids, cb: cb, user: user)
    }
}

func chatMessages(_ msgs: UnsafePointer<bittern_chat_message>?, _ n: Int) throws -> [ChatMessage] {
    let count = UInt(bitPattern: n)
    guard count <= 1 << 20 else { throw BitternError.invalidArgument("n = \(count) messages is too many") }
    guard count > 0 else { return [] }
    let m = try require(msgs, "messages")
    return try (0..<Int(count)).map { i in
        ChatMessage(role: try requireString(m[i].role, "messages[\(i)].role"),
                    content: try requireString(m[i].content, "messages[\(i)].content"))
    }
}

private func templateName(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }

@_cdecl("bittern_chat_render")
public func bittern_chat_render(_ m: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                _ msgs: UnsafePointer<bittern_chat_message>?, _ n: Int,
                                _ addAssistant: Bool) -> UnsafeMutablePointer<CChar>? {
    do {
        let mod = try model(m)
        let tok = try tokenizer(m)
        let t = try ChatTemplate.resolve(name: templateName(name), model: mod)
        let bos = tok.bos.map { String(decoding: tok.piece($0), as: UTF8.self) } ?? ""
        return capiString(try t.render(try chatMessages(msgs, n), bos: bos, addAssistantPrompt: addAssistant))
    } catch {
        capiFail(error)
        return nil
    }
}

@_cdecl("bittern_chat")
public func bittern_chat(_ c: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                         _ msgs: UnsafePointer<bittern_chat_message>?, _ n: Int,
                         _ params: UnsafePointer<bittern_generate_params>?,
                         _ cb: bittern_text_callback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    capiStatus {
        let cctx = try context(c)
        let mod = cctx.ctx.model
        guard let tok = mod.tokenizer else { throw BitternError.unsupported("\(mod.path) has no tokenizer") }
        let t = try ChatTemplate.resolve(name: templateName(name), model: mod)
        let messages = try chatMessages(msgs, n)
        guard !messages.isEmpty else { throw BitternError.invalidArgument("chat needs at least one message") }
        let prompt = try t.replyPrompt(messages, tokenizer: tok)
        var setup = try GenerateSetup(params, model: mod)
        setup.generator.reusePrefix = true
        setup.generator.dropLeadingSpace = prompt.dropLeadingSpace
        try setup.run(cctx, prompt: prompt.tokens, cb: cb, user: user)
    }
}

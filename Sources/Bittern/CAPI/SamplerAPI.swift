import BitternSupport

// Sampler chains.

@_cdecl("bittern_sampler_default_params")
public func bittern_sampler_default_params() -> bittern_sampler_params {
    let d = SamplerParams()
    return bittern_sampler_params(size: UInt32(MemoryLayout<bittern_sampler_params>.size), temperature: d.temperature,
                                  top_k: Int32(d.topK), top_p: d.topP, min_p: d.minP, repeat_penalty: d.repeatPenalty,
                                  frequency_penalty: d.frequencyPenalty, presence_penalty: d.presencePenalty,
                                  penalty_last_n: Int32(d.penaltyLastN), seed: UInt64.max)
}

extension SamplerParams {
    init(_ c: bittern_sampler_params) {
        self.init()
        temperature = c.temperature
        topK = Int(c.top_k)
        topP = c.top_p
        minP = c.min_p
        repeatPenalty = c.repeat_penalty
        frequencyPenalty = c.frequency_penalty
        presencePenalty = c.presence_penalty
        penaltyLastN = Int(c.penalty_last_n)
        seed = c.seed == UInt64.max ? nil : c.seed
    }
}

func sampler(_ s: OpaquePointer?) throws -> Sampler {
    try Handles.resolve(s, as: Sampler.self, kind: .sampler, what: "sampler")
}

@_cdecl("bittern_sampler_create")
public func bittern_sampler_create(_ m: OpaquePointer?, _ params: UnsafePointer<bittern_sampler_params>?,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let mod = try model(m)
        let p = try readParams(params, defaults: bittern_sampler_default_params(), what: "bittern_sampler_params")
        let s = try Sampler(vocabSize: mod.hparams.vocabSize, params: SamplerParams(p))
        out.pointee = Handles.register(s, as: .sampler)
    }
}

@_cdecl("bittern_sampler_create_chain")
public func bittern_sampler_create_chain(_ m: OpaquePointer?, _ seed: UInt64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capiStatus {
        let out = try require(out, "out")
        let mod = try model(m)
        let s = try Sampler(vocabSize: mod.hparams.vocabSize, stages: [], seed: seed == UInt64.max ? nil : seed)
        out.pointee = Handles.register(s, as: .sampler)
    }
}

private func addStage(_ s: OpaquePointer?, _ make: () throws -> SamplerStage) -> Int32 {
    capiStatus { try sampler(s).add(try make()) }
}

@_cdecl("bittern_sampler_add_logit_bias")
public func bittern_sampler_add_logit_bias(_ s: OpaquePointer?, _ n: Int32, _ tokens: UnsafePointer<Int32>?,
                                           _ bias: UnsafePointer<Float>?) -> Int32 {
    addStage(s) {
        guard n >= 0 else { throw BitternError.invalidArgument("n must be >= 0 (got \(n))") }
        var b = [Int32: Float]()
        if n > 0 {
            let t = try require(tokens, "tokens"), v = try require(bias, "bias")
            for i in 0..<Int(n) {
                guard v[i].isFinite || v[i] == -.infinity else {
                    throw BitternError.invalidArgument("bias[\(i)] is \(v[i]) (finite or -inf)")
                }
                b[t[i], default: 0] += v[i]
            }
        }
        return .logitBias(b)
    }
}

@_cdecl("bittern_sampler_add_penalties")
public func bittern_sampler_add_penalties(_ s: OpaquePointer?, _ lastN: Int32, _ rep: Float, _ freq: Float, _ pres: Float) -> Int32 {
    addStage(s) {
        var p = SamplerParams()
        p.penaltyLastN = Int(lastN); p.repeatPenalty = rep; p.frequencyPenalty = freq; p.presencePenalty = pres
        try p.validate()
        return .penalties(lastN: Int(lastN), repeat: rep, frequency: freq, presence: pres)
    }
}

@_cdecl("bittern_sampler_add_top_k")
public func bittern_sampler_add_top_k(_ s: OpaquePointer?, _ k: Int32) -> Int32 {
    addStage(s) {
        guard k > 0 else { throw BitternError.invalidArgument("top_k must be > 0 (got \(k))") }
        return .topK(Int(k))
    }
}

@_cdecl("bittern_sampler_add_top_p")
public func bittern_sampler_add_top_p(_ s: OpaquePointer?, _ p: Float) -> Int32 {
    addStage(s) {
        guard p > 0 && p <= 1 else { throw BitternError.invalidArgument("top_p must be in (0, 1] (got \(p))") }
        return .topP(p)
    }
}

@_cdecl("bittern_sampler_add_min_p")
public func bittern_sampler_add_min_p(_ s: OpaquePointer?, _ p: Float) -> Int32 {
    addStage(s) {
        guard p >= 0 && p <= 1 else { throw BitternError.invalidArgument("min_p must be in [0, 1] (got \(p))") }
        return .minP(p)
    }
}

@_cdecl("bittern_sampler_add_temperature")
public func bittern_sampler_add_temperature(_ s: OpaquePointer?, _ t: Float) -> Int32 {
    addStage(s) {
        guard t.isFinite else { throw BitternError.invalidArgument("temperature must be finite (got \(t))") }
        return .temperature(t)
    }
}

@_cdecl("bittern_sampler_add_greedy")
public func bittern_sampler_add_greedy(_ s: OpaquePointer?) -> Int32 { addStage(s) { .greedy } }

@_cdecl("bittern_sampler_add_dist")
public func bittern_sampler_add_dist(_ s: OpaquePointer?) -> Int32 { addStage(s) { .distribution } }

@_cdecl("bittern_sampler_sample")
public func bittern_sampler_sample(_ s: OpaquePointer?, _ c: OpaquePointer?, _ i: Int32) -> Int32 {
    do {
        let smp = try sampler(s)
        let ctx = try context(c)
        let logits = try ctx.logits(Int(i))
        return try smp.sample(UnsafeBufferPointer(start: logits, count: ctx.ctx.model.hparams.vocabSize))
    } catch {
        return capiFail(error)
    }
}

@_cdecl("bittern_sampler_accept")
public func bittern_sampler_accept(_ s: OpaquePointer?, _ token: Int32) -> Int32 {
    capiStatus {
        let smp = try sampler(s)
        guard token >= 0 && Int(token) < smp.vocabSize else {
            throw BitternError.invalidArgument("token \(token) is outside the vocabulary [0, \(smp.vocabSize))")
        }
        smp.accept(token)
    }
}

@_cdecl("bittern_sampler_reset")
public func bittern_sampler_reset(_ s: OpaquePointer?) -> Int32 {
    capiStatus { try sampler(s).reset() }
}

@_cdecl("bittern_sampler_free")
public func bittern_sampler_free(_ s: OpaquePointer?) {
    Handles.release(s, kind: .sampler)
}

#if canImport(Glibc)
import Glibc
#endif

/// One stage of a sampler chain. Stages narrow or reshape the candidate list in order; the last stage
/// that picks (`greedy` or `distribution`) chooses the token. A chain without a picking stage picks greedily.
public enum SamplerStage: Equatable, Sendable {
    case logitBias([Int32: Float])
    /// Over the last `lastN` accepted tokens (llama.cpp's formula): a positive logit is divided by
    /// `repeat`, a negative one multiplied; then `frequency * count + presence * (count > 0)` is subtracted.
    case penalties(lastN: Int, repeat: Float, frequency: Float, presence: Float)
    case topK(Int)
    case topP(Float)
    case minP(Float)
    case temperature(Float)
    case greedy
    case distribution
}

public struct SamplerParams: Equatable, Sendable {
    public var temperature: Float = 0.8
    public var topK = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    public var repeatPenalty: Float = 1.1
    public var frequencyPenalty: Float = 0
    public var presencePenalty: Float = 0
    public var penaltyLastN = 64
    /// nil: a seed drawn from the system.
    public var seed: UInt64? = nil
    public var logitBias: [Int32: Float] = [:]

    public init() {}

    /// The chain these parameters describe: bias, penalties, top-k, top-p, min-p, temperature, draw
    /// (temperature <= 0: greedy after the bias and penalties).
    public var stages: [SamplerStage] {
        var s = [SamplerStage]()
        if !logitBias.isEmpty { s.append(.logitBias(logitBias)) }
        if penaltyLastN != 0 && (repeatPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0) {
            s.append(.penalties(lastN: penaltyLastN, repeat: repeatPenalty, frequency: frequencyPenalty, presence: presencePenalty))
        }
        if temperature <= 0 { s.append(.greedy); return s }
        if topK > 0 { s.append(.topK(topK)) }
        if topP < 1 { s.append(.topP(topP)) }
        if minP > 0 { s.append(.minP(minP)) }
        s.append(.temperature(temperature))
        s.append(.distribution)
        return s
    }

    public func validate() throws {
        func bad(_ m: String) -> BitternError { .invalidArgument("sampler: \(m)") }
        guard temperature.isFinite else { throw bad("temperature must be finite (got \(temperature))") }
        guard topK >= 0 else { throw bad("top_k must be >= 0 (got \(topK))") }
        guard topP > 0 && topP <= 1 else { throw bad("top_p must be in (0, 1] (got \(topP))") }
        guard minP >= 0 && minP <= 1 else { throw bad("min_p must be in [0, 1] (got \(minP))") }
        guard repeatPenalty > 0 && repeatPenalty.isFinite else { throw bad("repeat_penalty must be > 0 (got \(repeatPenalty))") }
        guard frequencyPenalty.isFinite && presencePenalty.isFinite else { throw bad("penalties must be finite") }
        guard penaltyLastN >= -1 else { throw bad("penalty_last_n must be >= -1 (got \(penaltyLastN))") }
        for (t, b) in logitBias where !b.isFinite && b != -.infinity { throw bad("logit bias of token \(t) is \(b)") }
    }
}

/// A sampler chain with its history (for penalties) and random state. Deterministic for a given seed on
/// every platform (xoshiro256**, its own float conversion). One thread at a time.
public final class Sampler: @unchecked Sendable {
    public private(set) var stages: [SamplerStage]
    public let vocabSize: Int
    public let seed: UInt64
    private var rng: Xoshiro256
    private var history: [Int32] = []
    private var historyLimit: Int
    private var candidates: [(id: Int32, logit: Float)] = []

    public init(vocabSize: Int, stages: [SamplerStage], seed: UInt64? = nil) throws {
        guard vocabSize > 0 else { throw BitternError.invalidArgument("sampler: vocabulary size must be > 0") }
        for case .logitBias(let b) in stages {
            for t in b.keys where t < 0 || Int(t) >= vocabSize {
                throw BitternError.invalidArgument("sampler: logit bias for token \(t) outside the vocabulary [0, \(vocabSize))")
            }
        }
        self.vocabSize = vocabSize
        self.stages = stages
        self.seed = seed ?? Self.systemSeed()
        rng = Xoshiro256(seed: self.seed)
        historyLimit = Self.historyNeeded(stages, vocabSize: vocabSize)
    }

    public convenience init(vocabSize: Int, params: SamplerParams) throws {
        try params.validate()
        try self.init(vocabSize: vocabSize, stages: params.stages, seed: params.seed)
    }

    public func add(_ stage: SamplerStage) throws {
        if case .logitBias(let b) = stage {
            for t in b.keys where t < 0 || Int(t) >= vocabSize {
                throw BitternError.invalidArgument("sampler: logit bias for token \(t) outside the vocabulary [0, \(vocabSize))")
            }
        }
        stages.append(stage)
        historyLimit = Self.historyNeeded(stages, vocabSize: vocabSize)
    }

    private static func historyNeeded(_ stages: [SamplerStage], vocabSize: Int) -> Int {
        var n = 0
        for case .penalties(let lastN, _, _, _) in stages { n = max(n, lastN < 0 ? Int.max : lastN) }
        return n
    }

    static func systemSeed() -> UInt64 {
        var s: UInt64 = 0
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        s = UInt64(truncatingIfNeeded: ts.tv_nsec) ^ (UInt64(truncatingIfNeeded: ts.tv_sec) << 30)
        let fd = open("/dev/urandom", O_RDONLY)
        if fd >= 0 {
            var r: UInt64 = 0
            if read(fd, &r, 8) == 8 { s ^= r }
            close(fd)
        }
        return s
    }

    /// Records a token (prompt or generated) for the penalties.
    public func accept(_ token: Int32) {
        guard historyLimit > 0 else { return }
        history.append(token)
        if history.count > historyLimit && historyLimit != Int.max { history.removeFirst(history.count - historyLimit) }
    }

    /// Replaces the history with the last tokens of a sequence (the penalty window's view of a context).
    public func setHistory(_ tokens: [Int32]) {
        guard historyLimit > 0 else { return }
        history = historyLimit == Int.max ? tokens : Array(tokens.suffix(historyLimit))
    }

    /// Forgets the history and restarts the random sequence from the seed.
    public func reset() {
        history.removeAll()
        rng = Xoshiro256(seed: seed)
    }

    /// Picks a token from logits of the vocabulary's size. Does not accept it.
    public func sample(_ logits: UnsafeBufferPointer<Float>) throws -> Int32 {
        guard logits.count == vocabSize else {
            throw BitternError.invalidArgument("sampler: \(logits.count) logits for a vocabulary of \(vocabSize)")
        }
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(vocabSize)
        for i in 0..<vocabSize { candidates.append((Int32(i), logits[i].isNaN ? -.infinity : logits[i])) }
        var sorted = false
        for stage in stages {
            switch stage {
            case .logitBias(let bias):
                if !sorted && candidates.count == vocabSize {     // still indexed by id
                    for (t, b) in bias { candidates[Int(t)].logit += b }
                } else {
                    for i in candidates.indices { candidates[i].logit += bias[candidates[i].id] ?? 0 }
                }
            case .penalties(let lastN, let rep, let freq, let pres):
                applyPenalties(lastN: lastN, repeat: rep, frequency: freq, presence: pres, sorted: sorted)
            case .topK(let k):
                sortDescending(&sorted, limit: k)
                if k < candidates.count { candidates.removeSubrange(k...) }
            case .topP(let p):
                sortDescending(&sorted, limit: nil)
                let probs = softmax()
                var cum: Double = 0
                var keep = candidates.count
                for (i, q) in probs.enumerated() {
                    cum += q
                    if cum >= Double(p) { keep = i + 1; break }
                }
                candidates.removeSubrange(keep...)
            case .minP(let p):
                guard let m = candidates.map(\.logit).max(), m > -.infinity, p > 0 else { break }
                let floor = m + Float(log(Double(p)))
                candidates.removeAll { $0.logit < floor }
            case .temperature(let t):
                if t <= 0 { return pickGreedy() }
                // A temperature so small that a logit / t overflows is the limit t -> 0: greedy.
                if candidates.contains(where: { $0.logit.isFinite && !($0.logit / t).isFinite }) { return pickGreedy() }
                for i in candidates.indices { candidates[i].logit /= t }
            case .greedy:
                return pickGreedy()
            case .distribution:
                return pickRandom()
            }
        }
        return pickGreedy()
    }

    private func applyPenalties(lastN: Int, repeat rep: Float, frequency: Float, presence: Float, sorted: Bool) {
        let window = lastN < 0 ? history[...] : history.suffix(lastN)
        guard !window.isEmpty else { return }
        var counts = [Int32: Int]()
        for t in window { counts[t, default: 0] += 1 }
        func penalize(_ i: Int) {
            guard let c = counts[candidates[i].id] else { return }
            var l = candidates[i].logit
            l = l > 0 ? l / rep : l * rep
            l -= Float(c) * frequency + presence
            candidates[i].logit = l
        }
        if !sorted && candidates.count == vocabSize {     // still indexed by id
            for t in counts.keys where t >= 0 && Int(t) < vocabSize { penalize(Int(t)) }
        } else {
            for i in candidates.indices { penalize(i) }
        }
    }

    /// Sorts candidates by logit, descending (ties: lower id first). With a limit only the top `limit`
    /// need to be in order and the rest may be dropped by the caller.
    private func sortDescending(_ sorted: inout Bool, limit: Int?) {
        guard !sorted else { return }
        let before: ((id: Int32, logit: Float), (id: Int32, logit: Float)) -> Bool = {
            $0.logit != $1.logit ? $0.logit > $1.logit : $0.id < $1.id
        }
        if let k = limit, k > 0, k <= 128, k < candidates.count / 4 {
            // Partial selection: keep a running top-k in a small sorted buffer.
            var top = [(id: Int32, logit: Float)]()
            top.reserveCapacity(k + 1)
            for c in candidates {
                if top.count == k, !before(c, top[k - 1]) { continue }
                var lo = 0, hi = top.count
                while lo < hi { let mid = (lo + hi) / 2; if before(top[mid], c) { lo = mid + 1 } else { hi = mid } }
                top.insert(c, at: lo)
                if top.count > k { top.removeLast() }
            }
            candidates = top
        } else {
            candidates.sort(by: before)
        }
        sorted = true
    }

    private func softmax() -> [Double] {
        guard let m = candidates.map(\.logit).max(), m > -.infinity else {
            return [Double](repeating: 1 / Double(max(candidates.count, 1)), count: candidates.count)
        }
        if m == .infinity {   // (a huge bias, or a tiny temperature): the +inf candidates share all the mass
            let n = Double(candidates.filter { $0.logit == .infinity }.count)
            return candidates.map { $0.logit == .infinity ? 1 / n : 0 }
        }
        var p = candidates.map { exp(Double($0.logit - m)) }
        let s = p.reduce(0, +)
        for i in p.indices { p[i] /= s }
        return p
    }

    private func pickGreedy() -> Int32 {
        var best = 0
        for i in candidates.indices where candidates[i].logit > candidates[best].logit { best = i }
        return candidates[best].id
    }

    private func pickRandom() -> Int32 {
        let p = softmax()
        let r = rng.nextDouble()
        var cum = 0.0
        for (i, q) in p.enumerated() {
            cum += q
            if r < cum { return candidates[i].id }
        }
        return candidates[candidates.count - 1].id
    }
}

/// xoshiro256** seeded through splitmix64 (Blackman & Vigna).
struct Xoshiro256 {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

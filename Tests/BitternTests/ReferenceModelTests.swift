import Testing
@testable import Bittern

// The forward pass against Hugging Face transformers' own BitNet and Llama implementations, layer by
// layer: the reference's input to layer l goes through our layer l and must give the reference's output
// (Fixtures/hf/*.layers.f32, tools/reference/make_hf_checkpoints.py). End-to-end logits are compared in
// ConvertTests; this isolates each layer, so a random model's chaos (one int8 rounding flipped by a 1-ulp
// float difference, amplified through later layers) cannot hide or fake an error.

@Suite(.serialized) struct ReferenceModelTests {
    struct LayerStates {
        let layers: Int, hidden: Int, positions: Int
        let values: [Float]
        /// Row p of layer l's input (which 0) or output (which 1).
        func rows(_ l: Int, _ which: Int, _ range: Range<Int>) -> [Float] {
            let base = ((l * 2 + which) * positions) * hidden
            return Array(values[(base + range.lowerBound * hidden)..<(base + range.upperBound * hidden)])
        }
    }

    static func states(_ name: String) throws -> LayerStates {
        let j = try readJSON(HFFixtures.dir + "/reference.json")
        guard let m = j["models"]?[name], let file = m["layers"]?.stringValue, let layers = m["n_layers"]?.intValue,
              let hidden = m["hidden"]?.intValue, let positions = m["positions"]?.intValue else {
            throw BitternError.format("reference.json has no layer states for \(name)")
        }
        let bytes = GGUFFixtures.read(HFFixtures.dir + "/" + file)
        let values = bytes.withUnsafeBytes { b in (0..<(bytes.count / 4)).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        #expect(values.count == layers * 2 * positions * hidden)
        return LayerStates(layers: layers, hidden: hidden, positions: positions, values: values)
    }

    /// Tolerance: the same int8 quantization and ternary products as the reference, float sums in another
    /// order. Most layers come out equal to float rounding (measured ~2e-7 of the layer's max |value|).
    /// Where a value lands within an ulp of an int8 rounding boundary the two sides can round differently:
    /// one activation moves by one step, which moves that token's output by about alpha/s and, through its
    /// key and value, later tokens' outputs a little (measured: max 1.0%, mean 0.1% of max |value|). Bounds:
    /// max 5%, mean 0.5%; a wrong formula (a missing sub-norm, a swapped RoPE pair order, a wrong scale)
    /// moves every value by 10-100%.
    @Test(arguments: ["bitnet-master", "llama-packed", "bitnet-heldout"])
    func layerByLayerMatchesTransformers(model: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        _ = try HFConverter.convert(directory: HFFixtures.dir + "/" + model, output: dir.file("m.gguf"))
        let m = try BitNetModel(path: dir.file("m.gguf"), runtime: Runtime(), headType: .f32)
        let ref = try Self.states(model)
        #expect(ref.layers == m.layers.count && ref.hidden == m.hparams.embeddingLength)
        var start = 0
        for seq in HFFixtures.reference.sequences {
            let range = start..<(start + seq.count)
            start += seq.count
            for l in 0..<ref.layers {
                let ctx = try m.makeContext(nCtx: seq.count, kvType: .f32)
                let got = try ctx.runLayer(l, input: ref.rows(l, 0, range), n: seq.count)
                let want = ref.rows(l, 1, range)
                let scale = want.map(abs).max()!
                var maxDiff: Float = 0, sum: Double = 0
                for (a, b) in zip(got, want) {
                    maxDiff = max(maxDiff, abs(a - b))
                    sum += Double(abs(a - b))
                }
                let mean = Float(sum / Double(got.count))
                print("layer-by-layer \(model) layer \(l), \(seq.count) tokens: |diff| / max |value| \(scale): max \(maxDiff / scale), mean \(mean / scale)")
                #expect(maxDiff <= 0.05 * scale, "\(model) layer \(l)")
                #expect(mean <= 0.005 * scale, "\(model) layer \(l)")
            }
        }
    }

    /// A model of other dimensions than the ones the code was written against matches end to end too.
    @Test func heldOutModelMatches() throws {
        let dir = TempDir()
        defer { dir.remove() }
        _ = try HFConverter.convert(directory: HFFixtures.dir + "/bitnet-heldout", output: dir.file("h.gguf"))
        let c = try LogitComparison(gguf: dir.file("h.gguf"), reference: "bitnet-heldout")
        print("held-out model: argmax \(c.agree)/\(c.positions), mean KL \(c.meanKL), mean |d| \(c.meanAbs), max |d| \(c.maxAbs)")
        #expect(c.agreement >= 0.95)
        #expect(c.meanKL < 1e-3)
        #expect(c.meanAbs < 0.05)
    }
}

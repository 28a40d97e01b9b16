import Testing
@testable import Bittern
import BitternKernels

@Suite struct QuantizationTests {
    /// API.md's procedure, written out again here.
    func reference(_ w: [Float], threshold: Float) -> ([Int8], Float) {
        var sum = 0.0
        for v in w { sum += Double(abs(v)) }
        let alpha = max(Float(sum / Double(w.count)), 1e-5)
        let s: Float = 1 / alpha
        return (w.map { abs($0) * s > threshold ? ($0 > 0 ? 1 : -1) : 0 }, alpha)
    }

    @Test(arguments: [Float(0), 0.25, 0.5, 0.75, 1.0, 2.5])
    func absmeanMatchesTheFormula(threshold: Float) throws {
        var rng = TestRng(7)
        let w = rng.floats(257 * 100, scale: 0.02)
        let got = try w.withUnsafeBufferPointer { try Quantizer.absmean($0.baseAddress!, count: w.count, zeroThreshold: threshold) }
        let (trits, alpha) = reference(w, threshold: threshold)
        #expect(got.alpha == alpha)
        #expect(got.trits == trits)
        #expect(got.zeros == trits.filter { $0 == 0 }.count)
    }

    @Test func gaussianZeroFractionIsAboutAThird() throws {
        var rng = TestRng(3)
        let w = rng.floats(100_000)
        let q = try w.withUnsafeBufferPointer { try Quantizer.absmean($0.baseAddress!, count: w.count) }
        let frac = Double(q.zeros) / Double(w.count)
        #expect(frac > 0.25 && frac < 0.40, "zero fraction \(frac)")
    }

    @Test func allZeroMatrixUsesTheAlphaFloor() throws {
        let w = [Float](repeating: 0, count: 10)
        let q = try w.withUnsafeBufferPointer { try Quantizer.absmean($0.baseAddress!, count: 10) }
        #expect(q.alpha == 1e-5)
        #expect(q.zeros == 10)
    }

    @Test func nonFiniteWeightsAndBadThresholdsAreErrors() {
        for bad in [Float.nan, .infinity, -.infinity] {
            let w: [Float] = [1, 2, bad, 4]
            #expect(throws: BitternError.self) {
                try w.withUnsafeBufferPointer { _ = try Quantizer.absmean($0.baseAddress!, count: 4) }
            }
        }
        let w: [Float] = [1, 2]
        for t in [Float(-0.1), .nan, .infinity] {
            #expect(throws: BitternError.self) {
                try w.withUnsafeBufferPointer { _ = try Quantizer.absmean($0.baseAddress!, count: 2, zeroThreshold: t) }
            }
        }
    }

    @Test func activationQuantizationRoundsHalfToEvenAndClamps() throws {
        // max|x| = 127 gives s = 1 exactly, so x*s is x and the ties are exact.
        let x: [Float] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.4999, -127]
        let a = try QuantizedActivations(floats: x, n: 1, cols: x.count)
        defer { a.deallocate() }
        let q = (0..<x.count).map { a.row(0)[$0] }
        #expect(q == [127, 0, 2, 2, 0, -2, -2, 3, -127])
        #expect(a.scales[0] == 1)
        #expect(a.sums[0] == q.reduce(0) { $0 + Int32($1) })
        // padding up to 64 bytes is zero
        #expect((x.count..<a.stride).allSatisfy { a.row(0)[$0] == 0 })
    }

    @Test func activationScaleFloorAndNaN() throws {
        let zeros = [Float](repeating: 0, count: 5)
        let a = try QuantizedActivations(floats: zeros, n: 1, cols: 5)
        #expect(a.scales[0] == 127 / 1e-5)
        a.deallocate()
        #expect(throws: BitternError.self) { _ = try QuantizedActivations(floats: [1, .nan], n: 1, cols: 2) }
    }
}

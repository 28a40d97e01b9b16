import BitternKernels
import BitternSupport
import CNuma

/// A ternary weight matrix W ~ alpha * t (rows x cols, trits in {-1,0,+1}) packed by one backend.
/// Immutable after creation: products may run from any number of threads at once.
public final class TernaryMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let alpha: Float
    public let zeroCount: Int
    public let backend: Backend
    public let runtime: Runtime
    /// Bytes of one copy of the packed weights (the sum over slices; a replica counts once).
    public let packedBytes: Int

    /// Checks a shape for the C API: both dimensions >= 1 and rows*cols representable.
    public static func checkShape(rows: Int, cols: Int) throws {
        guard rows > 0, cols > 0 else {
            throw BitternError.invalidArgument("matrix shape \(rows) x \(cols): both dimensions must be >= 1")
        }
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, count <= Int.max / 8 else {
            throw BitternError.invalidArgument("matrix shape \(rows) x \(cols) is too large")
        }
    }

    /// One packed slice of rows: rows [rowBegin, rowBegin+rows) of the matrix (all rows for a replica),
    /// in its own buffer, planned for NUMA node `node` (nil: no node) and computed by worker group `group`.
    struct Slice {
        let rowBegin: Int
        let rows: Int
        let node: Int?
        let group: Int?
        let buffer: UnsafeMutableRawPointer
        /// Bytes the backend packed (what kernels read).
        let bytes: Int
        /// Bytes allocated (rounded up); freed with numa_free when `numaAllocated`.
        let allocated: Int
        let numaAllocated: Bool
    }
    let slices: [Slice]
    /// Index into `slices` of each plan group's slice (nil: that group holds none). Fixed at creation,
    /// so the per-product path does not search for it.
    let sliceOfGroup: [Int?]

    /// One slice as placed, for reports and checks: its rows of the matrix, planned node and the worker
    /// group that computes it (nil: every worker).
    public struct SliceInfo: Sendable, Equatable {
        public let rows: Range<Int>
        public let node: Int?
        public let group: Int?
        public let bytes: Int
    }
    public var sliceInfo: [SliceInfo] {
        slices.map { SliceInfo(rows: $0.rowBegin..<($0.rowBegin + $0.rows), node: $0.node, group: $0.group, bytes: $0.bytes) }
    }

    /// What one worker computed in a product: rows (of the matrix) of slice `slice` (index into
    /// `sliceInfo`). Reported by `multiply(_:into:trace:)` so checks see the real assignment.
    public struct WorkItem: Sendable, Equatable {
        public let worker: Int
        public let slice: Int
        public let rows: Range<Int>
    }
    /// The runtime's policy when the matrix was placed.
    public let placement: String

    /// Packs trits (rows*cols, row-major) with the runtime's backend, placed by the runtime's NUMA policy:
    /// `partition` packs one slice per worker group (rows in proportion to its workers) on that group's
    /// node; `replicate` one full copy per group's node; `interleave` one buffer interleaved over all
    /// nodes; `none` one ordinary buffer. Each slice is zero-filled and packed by a worker of its node
    /// (first touch), and only that node's workers compute its rows. `backend` packs with that backend
    /// instead of the runtime's choice for this zero fraction (benchmarks compare backends this way, on
    /// one runtime and one thread pool); it must run on this CPU.
    public init(runtime: Runtime, trits: UnsafePointer<Int8>, rows: Int, cols: Int, alpha: Float,
                backend forced: Backend? = nil) throws {
        try TernaryMatrix.checkShape(rows: rows, cols: cols)
        guard alpha.isFinite, alpha > 0 else {
            throw BitternError.invalidArgument("alpha must be finite and > 0 (got \(alpha))")
        }
        var zeros = 0
        let bad = btk_check_trits(trits, rows * cols, &zeros)
        if bad != 0 {
            let i = bad - 1
            throw BitternError.invalidArgument(
                "trit at row \(i / cols), column \(i % cols) is \(trits[i]): trits must be -1, 0 or 1")
        }
        if let forced, let why = forced.unsupportedReason(on: runtime.features) {
            throw BitternError.unsupported("backend '\(forced.name)' cannot run here: \(why)")
        }
        let backend = forced ?? runtime.backend(forZeroFraction: Double(zeros) / Double(rows * cols))
        let d = backend.descriptor.pointee
        let plan = runtime.plan
        // What each slice holds, and where it goes.
        var layout: [(rowBegin: Int, rows: Int, node: Int?, group: Int?)] = []
        switch runtime.numaPolicy {
        case "partition":
            for (g, r) in plan.splitRows(rows).enumerated() where !r.isEmpty {
                layout.append((r.lowerBound, r.count, plan.groups[g].node, g))
            }
        case "replicate":
            for (g, group) in plan.groups.enumerated() { layout.append((0, rows, group.node, g)) }
        default:
            layout.append((0, rows, nil, nil))
        }
        var slices: [Slice] = []
        var failed = false
        defer { if failed { slices.forEach(TernaryMatrix.free) } }
        for l in layout {
            let t = trits + l.rowBegin * cols
            let size = d.packed_size(t, l.rows, cols)
            guard size > 0 else {
                failed = true
                throw BitternError.unsupported("backend '\(backend.name)' cannot represent a \(l.rows) x \(cols) matrix")
            }
            // Round up so kernels reading whole 64-byte lines never leave the allocation.
            let bytes = (size + 63) / 64 * 64
            do {
                let (buffer, numa) = try TernaryMatrix.allocate(bytes, node: l.node, runtime: runtime)
                slices.append(Slice(rowBegin: l.rowBegin, rows: l.rows, node: l.node, group: l.group, buffer: buffer,
                                    bytes: size, allocated: bytes, numaAllocated: numa))
            } catch {
                failed = true
                throw error
            }
        }
        // Pack: each slice by a worker of its group (a pinned one when there is: worker 0 is the caller,
        // which may run anywhere), all slices at once.
        let packers = slices.map { s -> Int in
            guard let g = s.group else { return 0 }
            let ws = plan.groups[g].workers
            return ws.first { runtime.pool.pinned[$0] } ?? ws.lowerBound
        }
        let status = UnsafeMutablePointer<Int32>.allocate(capacity: slices.count)
        status.initialize(repeating: 0, count: slices.count)
        defer { status.deallocate() }
        let frozen = slices
        let pack: (Int) -> Void = { w in
            for (i, s) in frozen.enumerated() where packers[i] == w {
                s.buffer.initializeMemory(as: UInt8.self, repeating: 0, count: s.allocated)
                status[i] = d.pack(trits + s.rowBegin * cols, s.rows, cols, s.buffer, s.bytes)
            }
        }
        if packers.allSatisfy({ $0 == 0 }) { pack(0) } else { runtime.pool.run(pack) }
        guard (0..<slices.count).allSatisfy({ status[$0] == 0 }) else {
            failed = true
            throw BitternError.internal("backend '\(backend.name)' failed to pack a valid \(rows) x \(cols) matrix")
        }
        self.rows = rows
        self.cols = cols
        self.alpha = alpha
        self.zeroCount = zeros
        self.backend = backend
        self.runtime = runtime
        self.slices = slices
        sliceOfGroup = runtime.plan.groups.indices.map { g in slices.firstIndex { $0.group == g } }
        self.placement = runtime.numaPolicy
        // One copy of the weights (a replica counts once).
        self.packedBytes = runtime.numaPolicy == "replicate" ? slices[0].bytes : slices.reduce(0) { $0 + $1.bytes }
        runtime.register(self)
    }

    /// Memory for a slice: on `node` when memory is really bound here (the node is checked first:
    /// libnuma silently falls back for a node that does not exist), interleaved for that policy, else an
    /// ordinary aligned allocation (a described topology: the plan is recorded, nothing is bound).
    static func allocate(_ bytes: Int, node: Int?, runtime: Runtime) throws -> (UnsafeMutableRawPointer, Bool) {
        if runtime.bindsMemory {
            if let node {
                guard NodeMemory.nodeExists(node) else {
                    throw BitternError.invalidArgument("NUMA node \(node) does not exist on this machine")
                }
                guard let p = numa_alloc_onnode(bytes, Int32(node)) else {
                    throw BitternError.outOfMemory("cannot allocate \(bytes) bytes on NUMA node \(node)")
                }
                return (p, true)
            }
            if runtime.numaPolicy == "interleave" {
                guard let p = numa_alloc_interleaved(bytes) else {
                    throw BitternError.outOfMemory("cannot allocate \(bytes) bytes interleaved over NUMA nodes")
                }
                return (p, true)
            }
        }
        guard let p = bts_alloc_streamed(bytes) else {
            throw BitternError.outOfMemory("cannot allocate \(bytes) bytes for a ternary matrix")
        }
        return (p, false)
    }

    static func free(_ s: Slice) {
        if s.numaAllocated { numa_free(s.buffer, s.allocated) } else { bts_aligned_free(s.buffer) }
    }

    /// Quantizes float weights with the absmean rule, then packs them.
    public convenience init(runtime: Runtime, weights: UnsafePointer<Float>, rows: Int, cols: Int,
                            zeroThreshold: Float = Quantizer.defaultZeroThreshold) throws {
        try TernaryMatrix.checkShape(rows: rows, cols: cols)
        let q = try Quantizer.absmean(weights, count: rows * cols, zeroThreshold: zeroThreshold)
        try self.init(runtime: runtime, trits: q.trits, rows: rows, cols: cols, alpha: q.alpha)
    }

    deinit {
        runtime.unregister(self)
        slices.forEach(TernaryMatrix.free)
    }

    public var zeroFraction: Double { Double(zeroCount) / Double(rows * cols) }
    public var bitsPerWeight: Double { Double(packedBytes) * 8 / Double(rows * cols) }

    // MARK: products

    /// Exact integer products for n quantized tokens: y is n x rows. `trace` (for checks; nil in normal
    /// use) is called by each worker, on its own thread, with the rows it is about to compute.
    public func multiply(_ a: QuantizedActivations, into y: UnsafeMutablePointer<Int32>,
                         trace: ((WorkItem) -> Void)? = nil) throws {
        try TernaryMatrix.multiply([Product(self, a, y)], trace: trace)
    }

    /// One product of a batch that `multiply(_:)` runs as one job. With `rescaled`, each worker also
    /// writes its rows as floats right after computing them: floats[k][i] = Float(y[k][i]) * factors[k]
    /// (then * outputScale when that is not 1), while they are still in its cache and without another
    /// hand-off.
    public struct Product {
        public typealias Rescale = (floats: UnsafeMutablePointer<Float>, factors: UnsafePointer<Float>, outputScale: Float)
        public let matrix: TernaryMatrix
        public let input: QuantizedActivations
        public let output: UnsafeMutablePointer<Int32>
        public let rescaled: Rescale?
        public init(_ matrix: TernaryMatrix, _ input: QuantizedActivations, _ output: UnsafeMutablePointer<Int32>,
                    rescaled: Rescale? = nil) {
            self.matrix = matrix
            self.input = input
            self.output = output
            self.rescaled = rescaled
        }
    }

    /// Several products of matrices of one runtime (q, k and v of a layer; gate and up) as a single job
    /// for the workers: each computes its share of every product in turn, and the caller waits once, not
    /// after each matrix, so one worker's slack on one matrix is taken up by the next.
    public static func multiply(_ products: [Product], trace: ((WorkItem) -> Void)? = nil) throws {
        guard let runtime = products.first?.matrix.runtime else { return }
        for p in products {
            guard p.input.cols == p.matrix.cols else {
                throw BitternError.invalidArgument("activations have \(p.input.cols) columns, the matrix has \(p.matrix.cols)")
            }
            guard p.matrix.runtime === runtime else {
                throw BitternError.invalidArgument("the products of one job must use one runtime")
            }
        }
        let scratch = products.map { $0.matrix.prepareScratch($0.input) }
        defer { scratch.forEach { $0?.deallocate() } }
        let local = products.map { $0.matrix.localSlice() }
        // When no other worker has a share of anything, the caller computes it all without a hand-off.
        if products.indices.allSatisfy({ products[$0].matrix.callerAlone(n: products[$0].input.n, local: local[$0]) }) {
            for (i, p) in products.enumerated() {
                p.matrix.compute(slice: local[i], rows: 0..<p.matrix.slices[local[i]].rows, worker: 0, p.input,
                                 into: p.output, scratch: UnsafeRawPointer(scratch[i]?.baseAddress), trace: trace,
                                 rescaled: p.rescaled)
            }
            return
        }
        let teams = products.indices.map { products[$0].matrix.teams(n: products[$0].input.n, local: local[$0]) }
        let shareBytes = teams.reduce(0) { $0 + $1.reduce(0) { $0 + bts_shares_bytes($1?.parts ?? 0) } }
        let shares = UnsafeMutableRawPointer.allocate(byteCount: max(shareBytes, 64), alignment: 64)
        defer { shares.deallocate() }
        var offset = 0
        var bases: [[UnsafeMutableRawPointer?]] = []
        for productTeams in teams {
            bases.append(productTeams.map { team in
                guard let team else { return nil }
                let base = shares + offset
                offset += bts_shares_bytes(team.parts)
                for j in 0..<team.parts {
                    let (b, e) = team.part(j)
                    bts_shares_set(base, j, UInt32(b), UInt32(e))
                }
                return base
            })
        }
        // Every product of the job has this runtime: its worker's team index is the same for all of them.
        let plan = runtime.numaPolicy == "partition" ? runtime.plan : nil
        let work: (Int) -> Void = { w in
            let t = plan?.group(ofWorker: w) ?? 0
            for (i, p) in products.enumerated() {
                let m = p.matrix
                guard let team = teams[i][t], let base = bases[i][t] else { continue }
                let index = w - team.first
                guard index < team.parts else { continue }
                // Runs of rows: the caller's own part front to back, then the back of a late worker's part.
                let minRun = UInt32(p.input.n == 1 ? 4 : 8)
                var b: UInt32 = 0, e: UInt32 = 0
                while bts_shares_next(base, team.parts, index, minRun, &b, &e) != 0 {
                    let rows = (Int(b) * Team.grain)..<min(Int(e) * Team.grain, m.slices[team.slice].rows)
                    m.compute(slice: team.slice, rows: rows, worker: w, p.input, into: p.output,
                              scratch: UnsafeRawPointer(scratch[i]?.baseAddress), trace: trace, rescaled: p.rescaled)
                }
            }
        }
        runtime.pool.run(work)
    }

    /// The backend's per-product scratch (the sparse backend's prepared activations), or nil.
    private func prepareScratch(_ a: QuantizedActivations) -> UnsafeMutableRawBufferPointer? {
        let d = backend.descriptor.pointee
        guard let sizeFn = d.scratch_size else { return nil }
        let bytes = sizeFn(cols, a.n)
        guard bytes > 0 else { return nil }
        let s = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        d.prepare?(a.row(0), a.stride, a.n, cols, s.baseAddress)
        return s
    }

    /// The slice every worker reads when the matrix is not partitioned: the caller's node's replica
    /// when there is one, else the only slice.
    private func localSlice() -> Int {
        if slices.count > 1, runtime.bindsMemory, let node = NodeMemory.currentNode(),
           let local = slices.firstIndex(where: { $0.node == node }) {
            return local
        }
        return 0
    }

    /// The workers that split one slice of a product: workers first..<first+parts, worker first+j
    /// starting with part j of the slice's rows (in units of `grain` rows), then helping with the others'.
    struct Team {
        static let grain = 16
        let slice: Int
        let first: Int
        let parts: Int
        let units: Int

        /// Units [begin, end) of part j: contiguous, as equal as the units allow.
        func part(_ j: Int) -> (Int, Int) { (units * j / parts, units * (j + 1) / parts) }
    }

    /// The teams of a product over n tokens, indexed by worker group when partitioned (nil: that group
    /// holds no slice), else one team of every worker on slice `local`. Rows are split only among as
    /// many workers as each get enough work to repay the hand-off.
    private func teams(n: Int, local: Int) -> [Team?] {
        func team(_ si: Int, first: Int, workers: Int) -> Team {
            let rows = slices[si].rows
            return Team(slice: si, first: first, parts: parts(rows, workers: workers, n: n),
                        units: (rows + Team.grain - 1) / Team.grain)
        }
        guard runtime.numaPolicy == "partition" else { return [team(local, first: 0, workers: runtime.threads)] }
        return runtime.plan.groups.enumerated().map { g, group in
            sliceOfGroup[g].map { team($0, first: group.workers.lowerBound, workers: group.workers.count) }
        }
    }

    /// How many workers (at most `workers`) split `sliceRows` rows of a product over n tokens: only as
    /// many as each get enough work to repay the hand-off.
    private func parts(_ sliceRows: Int, workers: Int, n: Int) -> Int {
        max(1, min(workers, sliceRows * cols * n / (1 << 18)))
    }

    /// Whether the caller (worker 0) is the only worker with a share of a product over n tokens (what
    /// `share` would say for every worker, counted per group instead of asked per worker).
    private func callerAlone(n: Int, local: Int) -> Bool {
        if runtime.threads == 1 { return true }
        guard runtime.numaPolicy == "partition" else {
            return parts(slices[local].rows, workers: runtime.threads, n: n) == 1
        }
        let plan = runtime.plan
        var shares = 0
        for (g, group) in plan.groups.enumerated() {
            if let si = sliceOfGroup[g] { shares += parts(slices[si].rows, workers: group.workers.count, n: n) }
        }
        return shares == 1 && sliceOfGroup[plan.group(ofWorker: 0)] != nil
    }

    /// Rows [rows) (relative to slice si) of the product into y, by worker w, then (`rescaled`) as floats.
    private func compute(slice si: Int, rows r: Range<Int>, worker w: Int, _ a: QuantizedActivations,
                         into y: UnsafeMutablePointer<Int32>, scratch: UnsafeRawPointer?, trace: ((WorkItem) -> Void)?,
                         rescaled: Product.Rescale? = nil) {
        let d = backend.descriptor.pointee
        let s = slices[si]
        trace?(WorkItem(worker: w, slice: si, rows: (s.rowBegin + r.lowerBound)..<(s.rowBegin + r.upperBound)))
        let out = y + s.rowBegin + r.lowerBound
        if a.n == 1 {
            d.gemv(s.buffer, s.rows, cols, r.lowerBound, r.upperBound, a.row(0), a.sums[0], out, scratch)
        } else {
            a.sums.withUnsafeBufferPointer { sums in
                d.gemm(s.buffer, s.rows, cols, r.lowerBound, r.upperBound, a.row(0), a.stride, sums.baseAddress, a.n,
                       out, rows, scratch)
            }
        }
        guard let f = rescaled else { return }
        let first = s.rowBegin + r.lowerBound
        for k in 0..<a.n {
            let yf = f.floats + k * rows + first
            btk_scale_row_i32(y + k * rows + first, r.count, f.factors[k], yf)
            if f.outputScale != 1 { for i in 0..<r.count { yf[i] *= f.outputScale } }
        }
    }

    /// y[k][i] = sum_j t[i][j] * x[k][j], exactly. x: n x cols int8; y: n x rows int32.
    public func multiplyInt8(_ x: UnsafePointer<Int8>, n: Int, into y: UnsafeMutablePointer<Int32>) throws {
        try checkTokens(n)
        let a = QuantizedActivations(int8: x, n: n, cols: cols)
        defer { a.deallocate() }
        try multiply(a, into: y)
    }

    /// y = W x with per-token int8 activation quantization. x: n x cols floats; y: n x rows floats.
    public func multiplyFloat(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>) throws {
        try checkTokens(n)
        let a = try QuantizedActivations(floats: x, n: n, cols: cols)
        defer { a.deallocate() }
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: n * rows)
        defer { acc.deallocate() }
        try multiply(a, into: acc)
        for k in 0..<n {
            btk_scale_row_i32(acc + k * rows, rows, alpha / a.scales[k], y + k * rows)
        }
    }

    private func checkTokens(_ n: Int) throws {
        guard n > 0 else { throw BitternError.invalidArgument("token count n must be >= 1") }
        let (total, overflow) = n.multipliedReportingOverflow(by: max(rows, cols))
        guard !overflow, total <= Int.max / 8 else {
            throw BitternError.invalidArgument("token count \(n) is too large for a \(rows) x \(cols) matrix")
        }
    }

    /// Bytes of the packed weights resident on each node (index = node id), measured with move_pages
    /// over every slice (replicas included). Empty when the kernel cannot tell.
    public var measuredBytesPerNode: [Int] {
        var total: [Int] = []
        for s in slices {
            for (n, b) in NodeMemory.bytesPerNode(UnsafeRawPointer(s.buffer), length: s.bytes).enumerated() {
                if total.count <= n { total += [Int](repeating: 0, count: n + 1 - total.count) }
                total[n] += b
            }
        }
        return total
    }

    /// The placement: the policy, and per slice its rows, planned node and measured bytes per node.
    public var placementJSON: JSON {
        .object([
            ("rows", .int(rows)),
            ("cols", .int(cols)),
            ("placement", .string(placement)),
            ("bytes_per_node", .array(measuredBytesPerNode.map { .int($0) })),
            ("slices", slicesJSON),
        ])
    }

    var slicesJSON: JSON {
            .array(slices.map { s in
                .object([
                    ("row_begin", .int(s.rowBegin)),
                    ("rows", .int(s.rows)),
                    ("planned_node", s.node.map { .int($0) } ?? .null),
                    ("workers", .int(s.group.map { runtime.plan.groups[$0].workers.count } ?? runtime.threads)),
                    ("bytes", .int(s.bytes)),
                    ("numa_allocated", .bool(s.numaAllocated)),
                    ("bytes_per_node", .array(NodeMemory.bytesPerNode(UnsafeRawPointer(s.buffer), length: s.bytes).map { .int($0) })),
                ])
            })
    }

    public var json: JSON {
        .object([
            ("rows", .int(rows)),
            ("cols", .int(cols)),
            ("alpha", .double(Double(alpha))),
            ("zero_fraction", .double(zeroFraction)),
            ("backend", .string(backend.name)),
            ("bytes", .int(packedBytes)),
            ("bits_per_weight", .double(bitsPerWeight)),
            ("bytes_per_node", .array(measuredBytesPerNode.map { .int($0) })),
            ("placement", .string(placement)),
            ("slices", slicesJSON),
        ])
    }
}

import BitternSupport

/// Row-parallel fork-join over the C worker pool (BitternSupport/pool.c): worker 0 is the caller,
/// the others spin briefly after a job and then sleep. Calls from several threads are queued.
public final class ThreadPool: @unchecked Sendable {
    private let pool: OpaquePointer
    public let size: Int

    /// Worker i's thread is bound to its CPU (always false for worker 0, the caller).
    public let pinned: [Bool]

    /// `cpus`: OS PU index per worker to bind worker i >= 1 to (nil or a negative entry: not bound).
    public init(threads: Int, cpus: [Int]? = nil) throws {
        guard threads >= 1 else { throw BitternError.invalidArgument("thread count must be >= 1") }
        let cpuList = cpus.map { c in (0..<threads).map { Int32(clamping: $0 < c.count ? c[$0] : -1) } }
        let created: OpaquePointer? = cpuList.map { list in
            list.withUnsafeBufferPointer { bts_pool_create_pinned(threads, $0.baseAddress) }
        } ?? bts_pool_create(threads)
        guard let p = created else {
            throw BitternError.outOfMemory("cannot start \(threads) worker threads")
        }
        pool = p
        size = threads
        pinned = (0..<threads).map { bts_pool_worker_pinned(p, $0) != 0 }
    }

    /// Calls body(worker) once on every worker (worker 0 is the calling thread) and returns when all
    /// are done: for jobs that decide themselves what each worker does (NUMA-owned row slices).
    public func run(_ body: (Int) -> Void) {
        if size == 1 { body(0); return }
        withoutActuallyEscaping(body) { escaping in
            var job = escaping
            withUnsafeMutablePointer(to: &job) { ptr in
                bts_pool_run(pool, { ctx, worker, _ in
                    ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(worker)
                }, ptr)
            }
        }
    }

    /// Calls body(begin, end) over disjoint runs covering [0, count) (boundaries on multiples of
    /// `grain`): each worker starts on its own contiguous part, front to back, then takes runs from the
    /// back of the others' (BitternSupport/shares.c), so a worker that runs late does not hold up the job.
    /// For long jobs that stream memory (the head); runs are at least minRun grains unless less is left.
    public func balancedFor(_ count: Int, grain: Int, minRun: Int = 1, _ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        let g = max(1, grain)
        let units = (count + g - 1) / g
        let n = min(size, units)
        if n <= 1 { body(0, count); return }
        let shares = UnsafeMutableRawPointer.allocate(byteCount: bts_shares_bytes(n), alignment: 64)
        defer { shares.deallocate() }
        for j in 0..<n { bts_shares_set(shares, j, UInt32(units * j / n), UInt32(units * (j + 1) / n)) }
        run { w in
            var b: UInt32 = 0, e: UInt32 = 0
            while bts_shares_next(shares, n, w, UInt32(clamping: minRun), &b, &e) != 0 {
                body(Int(b) * g, min(Int(e) * g, count))
            }
        }
    }

    deinit { bts_pool_free(pool) }

    private struct Job {
        let body: (Int, Int) -> Void
        let count: Int
        let grain: Int
        let parts: Int

        /// Range of part i: contiguous, boundaries on multiples of `grain` (except the end).
        func range(_ i: Int) -> (Int, Int) {
            guard i < parts else { return (0, 0) }
            let units = (count + grain - 1) / grain
            let b = units * i / parts * grain
            let e = i + 1 == parts ? count : units * (i + 1) / parts * grain
            return (b, min(e, count))
        }
    }

    /// Calls body(begin, end) over disjoint ranges covering [0, count), in parallel when the work is
    /// worth it. `grain` keeps range boundaries on multiples of it; `parts` caps the number of ranges.
    public func parallelFor(_ count: Int, grain: Int = 1, parts: Int? = nil, _ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        let g = max(1, grain)
        let n = min(parts ?? size, size, (count + g - 1) / g)
        if n <= 1 { body(0, count); return }
        withoutActuallyEscaping(body) { escaping in
            var job = Job(body: escaping, count: count, grain: g, parts: n)
            withUnsafeMutablePointer(to: &job) { ptr in
                bts_pool_run(pool, { ctx, worker, _ in
                    let job = ctx!.assumingMemoryBound(to: Job.self).pointee
                    let (b, e) = job.range(worker)
                    if b < e { job.body(b, e) }
                }, ptr)
            }
        }
    }
}

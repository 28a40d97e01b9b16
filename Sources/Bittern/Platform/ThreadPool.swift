import BitternSupport

/// Row-parallel fork-join over the C worker pool (BitternSupport/pool.c): worker 0 is the caller,
/// the others spin briefly after a job and then sleep. Calls from several threads are queued.
public final class ThreadPool: @unchecked Sendable {
    private let pool: OpaquePointer
    public let size: Int

    public init(threads: Int) throws {
        guard threads >= 1 else { throw BitternError.invalidArgument("thread count must be >= 1") }
        guard let p = bts_pool_create(threads) else {
            throw BitternError.outOfMemory("cannot start \(threads) worker threads")
        }
        pool = p
        size = threads
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

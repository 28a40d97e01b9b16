import Testing
@testable import Bittern
import BitternKernels
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RuntimeTests {
    @Test func automaticChoiceIsTheHighestPrioritySupportedBackend() throws {
        let rt = try Runtime()
        let best = BackendRegistry.shared.backends.filter { $0.isSupported() }.max { $0.priority < $1.priority }!
        if environment("BITTERN_BACKEND") == nil { #expect(rt.backend.name == best.name) }
        // A CPU without AVX2 gets scalar, never a kernel it cannot run.
        let bare = try Dispatcher.choose(requested: nil, source: .automatic, features: CPUFeatures(bits: 0))
        #expect(bare.name == "scalar")
    }

    @Test func unknownAndUnsupportedBackendsAreDistinctErrors() throws {
        do {
            _ = try Dispatcher.choose(requested: "nope", source: .params)
            Issue.record("no error")
        } catch let e as BitternError {
            #expect(e.status == Status.invalidArgument)
            #expect(e.message.contains("known backends: scalar"))
        }
        do {
            _ = try Dispatcher.choose(requested: "avx2", source: .params, features: CPUFeatures(bits: 0))
            Issue.record("no error")
        } catch let e as BitternError {
            #expect(e.status == Status.unsupported)
            #expect(e.message.contains("avx2"))
        }
    }

    @Test func paramsWinOverTheEnvironment() throws {
        // (Tested without setenv: tests run in parallel and share the process environment.)
        #expect(Runtime.backendRequest(params: "avx2", environment: "scalar") == ("avx2", .params))
        #expect(Runtime.backendRequest(params: nil, environment: "scalar") == ("scalar", .environment))
        #expect(Runtime.backendRequest(params: nil, environment: nil) == (nil, .automatic))
        do {
            _ = try Dispatcher.choose(requested: "bogus", source: .environment)
            Issue.record("no error")
        } catch let e as BitternError {
            #expect(e.message.contains("BITTERN_BACKEND"))
        }
    }

    @Test func syntheticTopologyIsDescribed() throws {
        var p = RuntimeParams()
        p.topology = "pack:2 numa:2 l3:1 core:8 pu:2"
        p.threads = 1
        let rt = try Runtime(p)
        #expect(rt.topology.packages == 2)
        #expect(rt.topology.numaNodes == 4)
        #expect(rt.topology.cores == 32)
        #expect(rt.topology.processingUnits == 64)
        #expect(!rt.topology.isThisSystem)
        #expect(rt.numaPolicy == "partition")
        let json = rt.json.serialized()
        for key in ["\"version\"", "\"cpu_features\"", "\"backends\"", "\"threads\":1", "\"numa_nodes\":4", "\"topology\""] {
            #expect(json.contains(key), "\(key)")
        }
    }

    @Test func badRuntimeParamsAreErrors() {
        var p = RuntimeParams()
        p.topology = "this is not hwloc"
        #expect(throws: BitternError.self) { _ = try Runtime(p) }
        p = RuntimeParams()
        p.numaPolicy = "scatter"
        #expect(throws: BitternError.self) { _ = try Runtime(p) }
        p = RuntimeParams()
        p.threads = Runtime.maxThreads + 1
        #expect(throws: BitternError.self) { _ = try Runtime(p) }
    }

    @Test func thisMachineHasAtLeastOneCoreAndNode() throws {
        let t = try Topology.load(nil)
        #expect(t.isThisSystem)
        #expect(t.cores >= 1 && t.numaNodes >= 1 && t.processingUnits >= t.cores)
    }

    @Test func cpuFeatureProbeIsConsistent() {
        let f = CPUFeatures.host
        // AVX2 implies AVX (both need the OS to save YMM state); names are known for every bit set.
        if f.contains(UInt64(BITTERN_CPU_AVX2)) { #expect(f.contains(UInt64(BITTERN_CPU_AVX))) }
        #expect(f.names.count == f.bits.nonzeroBitCount)
    }
}

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3, 7])
    func everyIndexExactlyOnce(threads: Int) throws {
        let pool = try ThreadPool(threads: threads)
        for count in [1, 5, 16, 17, 1000, 4099] {
            for grain in [1, 16] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
                hits.initialize(repeating: 0, count: count)
                pool.parallelFor(count, grain: grain) { b, e in
                    #expect(b % grain == 0)
                    for i in b..<e { hits[i] += 1 }
                }
                #expect((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count) grain \(grain)")
                hits.deallocate()
            }
        }
    }

    /// Balanced runs cover every index once on grain boundaries, and when a worker is late (here the
    /// caller, asleep in its first run) the others take over the rest of its part.
    @Test(arguments: [2, 3, 7])
    func balancedRunsCoverOnceAndRelieveALateWorker(threads: Int) throws {
        let pool = try ThreadPool(threads: threads)
        let count = 4099, grain = 16
        let caller = pthread_self()
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        let byCaller = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        hits.initialize(repeating: 0, count: count)
        byCaller.initialize(repeating: false, count: count)
        defer { hits.deallocate(); byCaller.deallocate() }
        let slept = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        slept.initialize(to: false)
        defer { slept.deallocate() }
        pool.balancedFor(count, grain: grain, minRun: 1) { b, e in
            #expect(b % grain == 0 && b < e && e <= count)
            let mine = pthread_equal(pthread_self(), caller) != 0
            if mine && !slept.pointee { slept.pointee = true; usleep(50_000) }
            for i in b..<e { hits[i] += 1; byCaller[i] = mine }
        }
        #expect((0..<count).allSatisfy { hits[$0] == 1 })
        let units = (count + grain - 1) / grain, callerPart = units / threads * grain
        #expect((0..<callerPart).contains { !byCaller[$0] }, "no worker took over any of the late caller's rows")
    }
}

@Suite struct JSONTests {
    @Test func escapesAndNests() {
        let j = JSON.object([("a", .string("q\"\\\n\u{1}")), ("b", .array([.int(1), .bool(false), .null, .double(0.5)]))])
        #expect(j.serialized() == #"{"a":"q\"\\\n\u0001","b":[1,false,null,0.5]}"#)
        #expect(JSON.double(.nan).serialized() == "null")
    }
}

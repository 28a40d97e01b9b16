import CNuma
import BitternSupport
#if canImport(Glibc)
import Glibc
#endif

/// Where memory really is: pages of a buffer counted per NUMA node with move_pages(2) in query mode
/// (nodes = NULL), which reports the node of each resident page without moving anything.
public enum NodeMemory {
    /// Whether libnuma can place memory on node `node` of this machine. Ask before numa_alloc_onnode:
    /// for a node that does not exist it silently returns memory from another node.
    public static func nodeExists(_ node: Int) -> Bool {
        guard numa_available() >= 0, node >= 0, node <= Int(numa_max_node()), let all = numa_all_nodes_ptr else { return false }
        return numa_bitmask_isbitset(all, UInt32(node)) != 0
    }

    /// The highest node id libnuma knows (0 without NUMA support).
    public static var maxNode: Int { numa_available() >= 0 ? Int(numa_max_node()) : 0 }

    /// The NUMA node of the CPU the calling thread runs on now (nil when unknown).
    public static func currentNode() -> Int? {
        guard numa_available() >= 0 else { return nil }
        let cpu = bts_current_cpu()
        guard cpu >= 0 else { return nil }
        let node = numa_node_of_cpu(cpu)
        return node >= 0 ? Int(node) : nil
    }

    /// Bytes of [base, base+length) resident on each node, indexed by node id. Pages not yet touched
    /// or not resident are not counted. Empty when the kernel cannot answer (no NUMA support).
    public static func bytesPerNode(_ base: UnsafeRawPointer, length: Int) -> [Int] {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard length > 0, pageSize > 0 else { return [] }
        let start = Int(bitPattern: base) / pageSize * pageSize
        let end = Int(bitPattern: base) + length
        let nPages = (end - start + pageSize - 1) / pageSize
        var pages = (0..<nPages).map { UnsafeMutableRawPointer(bitPattern: start + $0 * pageSize) }
        var status = [Int32](repeating: -1, count: nPages)
        let rc = pages.withUnsafeMutableBufferPointer { p in
            status.withUnsafeMutableBufferPointer { s in
                move_pages(0, UInt(nPages), p.baseAddress, nil, s.baseAddress, 0)
            }
        }
        guard rc == 0 else { return [] }
        var perNode: [Int] = []
        for (i, node) in status.enumerated() where node >= 0 {
            let n = Int(node)
            if perNode.count <= n { perNode += [Int](repeating: 0, count: n + 1 - perNode.count) }
            // First and last page may be partly outside the buffer: count only the overlap.
            let pageStart = start + i * pageSize
            let overlap = min(end, pageStart + pageSize) - max(Int(bitPattern: base), pageStart)
            perNode[n] += overlap
        }
        return perNode
    }
}

import CNuma
#if canImport(Glibc)
import Glibc
#endif

/// Where memory really is: pages of a buffer counted per NUMA node with move_pages(2) in query mode
/// (nodes = NULL), which reports the node of each resident page without moving anything.
public enum NodeMemory {
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

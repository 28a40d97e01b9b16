/// Chooses the backend for new matrices: a requested name (params, then BITTERN_BACKEND) must exist and
/// be runnable here; otherwise the highest-priority runnable backend wins.
public enum Dispatcher {
    public enum Source: String, Sendable {
        case automatic = "auto"
        case params
        case environment
    }

    public static func choose(requested: String?, source: Source,
                              backends: [Backend] = BackendRegistry.shared.backends,
                              features: CPUFeatures = .host) throws -> Backend {
        if let requested {
            guard let b = backends.first(where: { $0.name == requested }) else {
                let known = backends.map(\.name).joined(separator: ", ")
                let from = source == .environment ? " (from BITTERN_BACKEND)" : ""
                throw BitternError.invalidArgument("unknown backend '\(requested)'\(from); known backends: \(known)")
            }
            if let why = b.unsupportedReason(on: features) {
                throw BitternError.unsupported("backend '\(requested)' cannot run here: \(why)")
            }
            return b
        }
        // Ties keep registry order, so a built-in beats a plugin of equal priority.
        var best: Backend?
        for b in backends where b.isSupported(on: features) {
            if best == nil || b.priority > best!.priority { best = b }
        }
        guard let best else { throw BitternError.internal("no backend can run on this CPU (not even scalar)") }
        return best
    }
}

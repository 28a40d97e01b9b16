/// A tiny command-line parser: positional words plus `--name value` and `--flag` options.
struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]
    var flags: Set<String> = []

    init(_ args: [String], valued: Set<String>) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--") {
                let name = String(a.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    options[String(name[..<eq])] = String(name[name.index(after: eq)...])
                } else if valued.contains(name) {
                    guard i + 1 < args.count else { throw UsageError("option --\(name) needs a value") }
                    options[name] = args[i + 1]
                    i += 1
                } else {
                    flags.insert(name)
                }
            } else {
                positional.append(a)
            }
            i += 1
        }
    }

    func int(_ name: String) throws -> Int? {
        guard let v = options[name] else { return nil }
        guard let n = Int(v) else { throw UsageError("--\(name) expects an integer, got '\(v)'") }
        return n
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

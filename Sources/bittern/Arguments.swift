/// The command line of one subcommand: positional words, `--name value` / `-x value` options and
/// `--flag`s, checked against what the subcommand accepts (an unknown option is an error, not ignored).
struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]
    /// Options given more than once (e.g. --stop), in order.
    var repeated: [String: [String]] = [:]
    var flags: Set<String> = []

    /// `valued`: options taking a value; `flags`: options without; `aliases`: short names -> long names.
    init(_ args: [String], valued: Set<String>, flags known: Set<String> = [], aliases: [String: String] = [:]) throws {
        var i = 0
        var onlyPositional = false
        while i < args.count {
            let a = args[i]
            if !onlyPositional && a == "--" { onlyPositional = true; i += 1; continue }
            if !onlyPositional && a.hasPrefix("-") && a.count > 1 && Double(a) == nil {
                var name = a.hasPrefix("--") ? String(a.dropFirst(2)) : String(a.dropFirst())
                var inline: String?
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if !a.hasPrefix("--") || aliases[name] != nil {
                    guard let long = aliases[name] else { throw UsageError("unknown option '\(a)'") }
                    name = long
                }
                if valued.contains(name) {
                    let v: String
                    if let inline { v = inline } else {
                        guard i + 1 < args.count else { throw UsageError("option --\(name) needs a value") }
                        v = args[i + 1]
                        i += 1
                    }
                    options[name] = v
                    repeated[name, default: []].append(v)
                } else if known.contains(name) || name == "help" {
                    guard inline == nil else { throw UsageError("option --\(name) takes no value") }
                    flags.insert(name)
                } else {
                    throw UsageError("unknown option '\(a)'")
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

    func float(_ name: String) throws -> Float? {
        guard let v = options[name] else { return nil }
        guard let x = Float(v), x.isFinite else { throw UsageError("--\(name) expects a number, got '\(v)'") }
        return x
    }

    func uint64(_ name: String) throws -> UInt64? {
        guard let v = options[name] else { return nil }
        guard let n = UInt64(v) else { throw UsageError("--\(name) expects a non-negative integer, got '\(v)'") }
        return n
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

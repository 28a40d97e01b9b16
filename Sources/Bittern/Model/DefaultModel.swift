#if canImport(Glibc)
import Glibc
#endif
import BitternSupport

/// Where the bundled default model (models/bittern-demo.gguf of the source tree, trained by tools/train)
/// is found at run time: $BITTERN_MODEL when set; else next to the binary that contains this code (the
/// library, or a CLI linked statically), as `<dir>/../share/bittern/bittern-demo.gguf` (scripts/build.sh
/// puts it in build/share/bittern; an install prefix has the same shape) or `<dir>/bittern-demo.gguf`.
public enum DefaultModel {
    public static let fileName = "bittern-demo.gguf"

    public static func candidates() -> [String] {
        var out = [String]()
        if let env = getenv("BITTERN_MODEL"), env.pointee != 0 { return [String(cString: env)] }
        if let f = bts_image_path(#dsohandle) {
            var path = String(cString: f)
            if !path.hasPrefix("/"), let cwd = getcwd(nil, 0) {
                path = String(cString: cwd) + "/" + path
                free(cwd)
            }
            let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            out.append(dir + "/../share/bittern/" + fileName)
            out.append(dir + "/" + fileName)
        }
        return out
    }

    /// The path of the default model, or an error that lists where it was looked for.
    public static func path() throws -> String {
        let list = candidates()
        for p in list where access(p, R_OK) == 0 { return p }
        throw BitternError.io("no bundled default model found (looked at: \(list.joined(separator: ", "))); set BITTERN_MODEL or pass a model file")
    }
}

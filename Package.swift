// swift-tools-version:6.0
// Bittern: a runtime for ternary (1.58-bit) language models.
// Products: libbittern.so (stable C API, include/bittern.h) and the `bittern` command (product
// bittern-cli; scripts/build.sh links it as `bittern`). Build the shipped artifacts with
// scripts/build.sh: it adds -static-stdlib so the .so needs no Swift toolchain at run time.
import PackageDescription

let root = Context.packageDirectory
// Sanitizer and fuzzing builds (scripts/sanitize.sh, scripts/fuzz.sh) set BITTERN_CHECKED=1: the core is
// then built without -Ounchecked, so an integer overflow or an out-of-bounds index traps (and is found)
// instead of being undefined.
let checked = Context.environment["BITTERN_CHECKED"] != nil

let package = Package(
    name: "Bittern",
    products: [
        .library(name: "bittern", type: .dynamic, targets: ["BitternLibrary"]),
        .executable(name: "bittern-cli", targets: ["bittern"]),
    ],
    targets: [
        // System libraries, found with pkg-config (Debian: libhwloc-dev, libnuma-dev).
        .systemLibrary(name: "CHwloc", path: "Sources/CHwloc", pkgConfig: "hwloc",
                       providers: [.apt(["libhwloc-dev"])]),
        .systemLibrary(name: "CNuma", path: "Sources/CNuma", pkgConfig: "numa",
                       providers: [.apt(["libnuma-dev"])]),
        // C11 kernels: no Swift, no threads, no allocation. ISA-specific code uses target attributes,
        // never global -m flags, so the probe in cpu_features.c runs on any CPU.
        .target(name: "BitternKernels", path: "Sources/BitternKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-Wall", "-Wextra"])]),
        // C support for the Swift core: thread-local error, worker pool, public C types.
        .target(name: "BitternSupport", path: "Sources/BitternSupport",
                cSettings: [.unsafeFlags(["-O2", "-Wall", "-Wextra"])],
                linkerSettings: [.linkedLibrary("pthread")]),
        // The Swift core, including the @_cdecl C API (CAPI/).
        .target(name: "Bittern", dependencies: ["BitternKernels", "BitternSupport", "CHwloc", "CNuma"],
                path: "Sources/Bittern",
                swiftSettings: checked ? [] : [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))],
                linkerSettings: [.linkedLibrary("dl")]),
        // The shared library's link settings live on a target of their own so that they apply to
        // libbittern.so only (not to the CLI or the test runner).
        .target(name: "BitternLibrary", dependencies: ["Bittern"], path: "Sources/BitternLibrary", exclude: ["bittern.map"],
                linkerSettings: [.unsafeFlags([
                    "-use-ld=lld", "-Xlinker", "-soname=libbittern.so.0",
                    "-Xlinker", "--version-script=\(root)/Sources/BitternLibrary/bittern.map",
                ])]),
        // Benchmark-only C helpers for the CLI (memory bandwidth yardstick); not in the library.
        .target(name: "BitternBench", path: "Sources/BitternBench", cSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: [.linkedLibrary("dl")]),
        .executableTarget(name: "bittern", dependencies: ["Bittern", "BitternBench", "BitternKernels", "BitternSupport"],
                          path: "Sources/bittern"),
        .testTarget(name: "BitternTests", dependencies: ["Bittern", "BitternKernels", "BitternSupport"],
                    path: "Tests/BitternTests", exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)

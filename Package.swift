// swift-tools-version:6.1
import PackageDescription

// Generic numerical code lives in `NCA` and is called with concrete Float/Double types from the
// tool, tests and benchmarks; cross-module optimisation lets those callers specialise it.
let optimise: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))
]

// Open MPI's headers (Debian's libopenmpi-dev) live under the multiarch folder.
#if arch(arm64)
let openMPIInclude = "/usr/lib/aarch64-linux-gnu/openmpi/include"
#else
let openMPIInclude = "/usr/lib/x86_64-linux-gnu/openmpi/include"
#endif

let package = Package(
    name: "NCA",
    // Linux only: the library's POSIX calls use Glibc (Sources/NCA/IO/POSIX.swift stops a build
    // elsewhere with a clear error); the macOS minimum only keeps package resolution working there.
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "NCA", targets: ["NCA"]),
        .executable(name: "nca", targets: ["NCATool"]),
        .executable(name: "nca-example", targets: ["nca-example"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        // `swift package generate-documentation --target NCA` (the DocC catalog, Sources/NCA/NCA.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CGIF", pkgConfig: "libgif", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3", providers: [.apt(["libfftw3-dev"])]),
        // AVX-512 / AVX2 small-GEMM kernels for the engine's Float products, chosen at run time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // libxsmm (Debian's libxsmm-dev, static) behind a row-major shim: the measured alternative
        // to CKernels (NCA_KERNELS=libxsmm).
        // Open MPI (Debian's libopenmpi-dev) behind a C shim: data-parallel training under mpirun.
        .target(
            name: "CMPI", cSettings: [.unsafeFlags(["-I" + openMPIInclude])], linkerSettings: [.linkedLibrary("mpi")]),
        .target(
            name: "CXSMM",
            linkerSettings: [.linkedLibrary("xsmm"), .linkedLibrary("dl"), .linkedLibrary("rt"), .linkedLibrary("pthread")]),
        .target(
            name: "NCA",
            dependencies: ["CBLAS", "CKernels", "CXSMM", "CMPI", "CFFTW", "CPNG", "CGIF", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: optimise
        ),
        .executableTarget(
            name: "NCATool",
            dependencies: ["NCA", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimise
        ),
        .executableTarget(
            name: "NCABenchmarks",
            dependencies: ["NCA", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/NCABenchmarks",
            swiftSettings: optimise,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The library used from Swift (Sources/NCA/NCA.docc/UseTheLibraryFromSwift.md shows this file):
        // train, take a gradient, roll out, write a PNG. `swift run -c release nca-example [OUT]`.
        .executableTarget(name: "nca-example", dependencies: ["NCA"], path: "Examples/TrainAndRoll", swiftSettings: optimise),
        // Fuzz targets for the readers: libFuzzer with scripts/fuzz.sh, a corpus replayer otherwise.
        .executableTarget(name: "NCAFuzz", dependencies: ["NCA"], path: "Tests/Fuzz/NCAFuzz"),
        // Test-only: counts the calling thread's heap allocations (interposes malloc).
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        .testTarget(
            name: "NCATests",
            dependencies: ["NCA", "NCATool", "AllocationCounter"],
            resources: [.copy("Fixtures")]
        ),
    ]
)

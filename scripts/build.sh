#!/usr/bin/env bash
# Builds the shipped artifacts into build/:
#   build/lib/libbittern.so -> libbittern.so.0 -> libbittern.so.0.1.0   (Swift runtime linked in)
#   build/bin/bittern (and bittern-cli), build/include/ (the public headers),
#   build/share/bittern/bittern-demo.gguf (the bundled default model)
# The release build uses -static-stdlib so neither the library nor the CLI needs a Swift toolchain.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"

swift build -c release -Xswiftc -static-stdlib "$@"
bin=$(swift build -c release --show-bin-path)

version=$(sed -n 's/^#define BITTERN_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/bittern.h | paste -sd.)
mkdir -p build/lib build/bin build/include
# Replaced by rename, not rewritten in place: a process that has the old library mapped keeps it intact.
cp -f "$bin/libbittern.so" "build/lib/.libbittern.so.$version.new"
mv -f "build/lib/.libbittern.so.$version.new" "build/lib/libbittern.so.$version"
ln -sf "libbittern.so.$version" build/lib/libbittern.so.0
ln -sf libbittern.so.0 build/lib/libbittern.so
cp -f "$bin/bittern-cli" build/bin/.bittern-cli.new
mv -f build/bin/.bittern-cli.new build/bin/bittern-cli
ln -sf bittern-cli build/bin/bittern
cp -f include/bittern.h include/bittern_kernel.h build/include/
# The bundled default model, where the library and the CLI look for it (<bin or lib>/../share/bittern).
mkdir -p build/share/bittern
cp -f models/bittern-demo.gguf build/share/bittern/
echo "built: build/lib/libbittern.so.$version, build/bin/bittern"

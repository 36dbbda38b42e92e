# Every third-party library comes from Debian 12's packages (deploy/install-deps.sh).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)          # FindProtobuf module: Debian ships no CMake config
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)   # the update policy: .ovvoc.yml, dependabot.yml
find_package(simdjson CONFIG REQUIRED)   # registry packuments: tens of MiB each, read in ms
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBGIT2 REQUIRED IMPORTED_TARGET libgit2)
pkg_check_modules(LIBSECCOMP REQUIRED IMPORTED_TARGET libseccomp)
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)  # the control plane's allocator

// Fuzzes the CSV manifest reader (quoting, header detection, columns, splits, paths that
// must stay inside the manifest's folder, labels only val/test rows use).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "dataset_impl.h"
#include "fuzz_common.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string dir = [] {
        const fs::path d = fs::temp_directory_path() / ("pqw-fuzz-csv-" + std::to_string(::getpid()));
        fs::create_directories(d / "img");
        std::ofstream(d / "img" / "a.png", std::ios::binary) << "\x89PNG\r\n\x1a\n";  // passes the cheap check
        return d.string();
    }();
    const std::string path = dir + "/manifest.csv";
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    expectOnlyPqwErrors([&] {
        pqw::detail::DatasetData d;
        pqw::detail::readCsv(d, path);
        // Invariants: every sample has a label among the classes and lies inside the folder.
        for (const auto& s : d.samples) {
            if (s.label < 0 || static_cast<size_t>(s.label) >= d.classNames.size()) std::abort();
            if (s.source.compare(0, dir.size() + 1, dir + "/") != 0) std::abort();
        }
    });
    return 0;
}

// Fuzzes the workbench project file parser (.pqwproj, JSON): bad bytes give pqw::Error only,
// and whatever parses survives a save/parse round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "pqw/project.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    expectOnlyPqwErrors([&] {
        const pqw::Project p = pqw::parseProject(text, "fuzz.pqwproj", "/fuzz/project");
        const std::string again = pqw::projectJson(p, "/fuzz/project");
        try {
            pqw::parseProject(again, "fuzz.pqwproj (saved)", "/fuzz/project");
        } catch (const pqw::Error& e) {
            std::fprintf(stderr, "a parsed project does not reparse after saving: %s\n", e.what());
            std::abort();
        }
    });
    return 0;
}

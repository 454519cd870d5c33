// Fuzzes the IDX readers (images, magic 0x803, and labels, magic 0x801), raw or gzip: the
// input is the file's content, handed over as an in-memory file.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "dataset_impl.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const int fd = memfd_create("idx", 0);
    if (fd < 0) std::abort();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    expectOnlyPqwErrors([&] {
        auto img = pqw::detail::readIdxImages(path);
        // Invariant of a successful read: the pixels are exactly count x rows x cols.
        if (img.rows <= 0 || img.cols <= 0 || img.pixels.size() % (size_t(img.rows) * size_t(img.cols)) != 0) std::abort();
    });
    expectOnlyPqwErrors([&] { pqw::detail::readIdxLabels(path); });
    return 0;
}

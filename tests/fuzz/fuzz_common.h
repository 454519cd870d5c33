#pragma once
// Shared by the fuzz targets: bad bytes may only ever raise pqw::Error. Any other exception
// escaping a parser is a bug, so it aborts and libFuzzer records the input.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "pqw/error.h"

template <typename Fn>
void expectOnlyPqwErrors(Fn&& fn) {
    try {
        fn();
    } catch (const pqw::Error&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "non-pqw exception escaped a parser: %s\n", e.what());
        std::abort();
    }
}

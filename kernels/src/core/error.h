// Errors inside the library are C++ exceptions carrying an armbert_status;
// abi.cpp catches every one of them at the boundary (see guard()).
#pragma once
#include <stdexcept>
#include <string>

#include "armbert.h"

namespace armbert {

struct Error : std::runtime_error {
    armbert_status status;
    Error(armbert_status s, const std::string &msg) : std::runtime_error(msg), status(s) {}
};

[[noreturn]] inline void fail(armbert_status s, const std::string &msg) { throw Error(s, msg); }

}  // namespace armbert

// Throws Error(status, msg) unless ok. A macro so that msg, usually a string built
// from the arguments, is only composed on failure: as a function it was built on
// every call, and the per-run checks of every op's tensors came to 0.3 M of
// MiniLM's instructions per inference on NEON (tools/insncount).
#define ARMBERT_REQUIRE(ok, status, msg)                         \
    do {                                                         \
        if (!(ok)) ::armbert::fail((status), (msg));             \
    } while (0)

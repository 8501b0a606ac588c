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

inline void require(bool ok, armbert_status s, const std::string &msg) {
    if (!ok) fail(s, msg);
}

}  // namespace armbert

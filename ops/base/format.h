// Number formatting shared by config printing and metrics output.
#pragma once

#include <cstdint>
#include <string>

namespace loom {

// Whole numbers as integers (15300, 1000000); otherwise the shortest "%.Ng"
// that parses back to exactly v (3e-4 -> "0.0003"); "nan", "inf", "-inf".
std::string FormatShortest(double v);

// Bytes in binary units: 512 B, 1.5 KiB, 3.2 GiB.
std::string FormatBytes(int64_t bytes);

}  // namespace loom

// Number formatting shared by config printing and metrics output.
#pragma once

#include <string>

namespace loom {

// Whole numbers as integers (15300, 1000000); otherwise the shortest "%.Ng"
// that parses back to exactly v (3e-4 -> "0.0003"); "nan", "inf", "-inf".
std::string FormatShortest(double v);

}  // namespace loom

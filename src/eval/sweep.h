// Helpers of `yopo eval --sweep`: splitting the list of plan specs and naming their files.
#pragma once

#include <string>
#include <vector>

namespace yopo::eval {

// Splits a --sweep list into plan specs (prune/plan_spec.h).
//   - When the list holds a ';', it is split on ';' only (commas stay inside specs).
//   - Otherwise it is split on ','; a piece of the form NAME=VALUE (NAME made of letters,
//     digits and '_' only, e.g. "R=0.5" or "from=2") continues the previous spec's parameters
//     ("fastv:K=2,R=0.5" stays one spec), every other piece starts a new spec ("dense",
//     "yopo-25", "heads:keep=8", "plans/a.json").
// Pieces are trimmed; empty pieces are dropped. Throws yopo::Error when no spec remains or the
// first piece is a bare NAME=VALUE.
std::vector<std::string> split_sweep_specs(const std::string& list);

// A file name (without extension) for a plan: its name with every character other than
// letters, digits, '.', '-', '+', '=' and '_' replaced by '_' (so "window:r=2" becomes
// "window_r=2"); "plan" when that leaves nothing. `taken` holds the names already used: a clash
// gets "-2", "-3", ... appended, and the result is added to it.
std::string plan_file_stem(const std::string& plan_name, std::vector<std::string>& taken);

}  // namespace yopo::eval

// Resident memory of this process from /proc/self/status (Linux): current (VmRSS) and peak
// (VmHWM, the "high water mark"), and resetting the peak so that one stage can be measured.
#pragma once

#include <cstdint>
#include <string>

namespace yopo::bench {

struct ProcessMemory {
  int64_t rss_kib = -1;  // VmRSS; -1 when unknown
  int64_t hwm_kib = -1;  // VmHWM; -1 when unknown
};

// Reads the VmRSS and VmHWM lines ("VmHWM:\t  123456 kB") of a /proc/<pid>/status text; fields
// that are absent or malformed stay -1.
ProcessMemory parse_proc_status(const std::string& text);

// This process's figures; -1 fields where /proc is not available.
ProcessMemory read_process_memory();

// Resets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs, Linux >= 4.0).
// Returns false when that is not possible (the peak then covers the whole process life).
bool reset_peak_rss();

// Returns freed heap memory to the system (glibc's malloc_trim), so that memory a finished
// stage freed does not count in the next stage's RSS. Returns false where unsupported.
bool release_free_heap();

inline double kib_to_mib(int64_t kib) {
  return kib < 0 ? -1.0 : double(kib) / 1024.0;
}

}  // namespace yopo::bench

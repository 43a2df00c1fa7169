#include "core/memory.h"

#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace sdref {

void keep_freed_memory_for_reuse() {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);  // serve blocks up to 1 GB from the heap...
    mallopt(M_TRIM_THRESHOLD, 1 << 30);  // ...and keep up to 1 GB of freed heap for reuse
}

void return_freed_memory_at_once() {
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

void return_free_memory() { malloc_trim(0); }

namespace {

// The first number in a file ("max" and unreadable files: -1).
long long read_number(const char* path) {
    std::ifstream f(path);
    long long v = -1;
    if (!(f >> v)) return -1;
    return v;
}

}  // namespace

long long available_memory_bytes() {
    long long available = -1;
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        long long kb = 0;
        meminfo >> kb;
        if (key == "MemAvailable:") available = kb * 1024;
        meminfo.ignore(64, '\n');
    }
    const long long limit = read_number("/sys/fs/cgroup/memory.max"), used = read_number("/sys/fs/cgroup/memory.current");
    if (limit > 0 && used >= 0 && (available < 0 || limit - used < available)) available = limit - used;
    return available;
}

long long peak_resident_bytes() {
    // VmHWM, which reset_peak_resident can start over; getrusage's maximum where /proc is not there
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        long long kb = -1;
        while (std::fgets(line, sizeof line, f))
            if (std::sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
        std::fclose(f);
        if (kb >= 0) return kb * 1024;
    }
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (long long)u.ru_maxrss * 1024;
}

void reset_peak_resident() {
    if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
        std::fputs("5", f);
        std::fclose(f);
    }
}

}  // namespace sdref

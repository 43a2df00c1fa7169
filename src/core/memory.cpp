#include "core/memory.h"

#include <malloc.h>
#include <sys/resource.h>

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

long long peak_resident_bytes() {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (long long)u.ru_maxrss * 1024;
}

}  // namespace sdref

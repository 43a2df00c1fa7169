// memory.h: process-wide memory settings for whole generations.
#pragma once

namespace sdref {

// glibc returns every large block (above 32 MB by default, adaptive) to the kernel when it is freed, so each new
// activation tensor of a VAE decode at 512x512 (134 MB) is fresh memory: page faults and zeroing on every
// allocation, about 3 of the 21 seconds. Keeping freed blocks in the heap lets the next tensor of the same size
// reuse them. Call once at the start of a program that generates images (the sdref command does).
void keep_freed_memory_for_reuse();

// The opposite, for --low-memory: every block of 1 MB or more comes from and goes back to the kernel.
void return_freed_memory_at_once();

// Hand freed heap memory back to the kernel (malloc_trim): between the phases of a generation, so the memory one
// model's activations used is not kept while the next model's weights are paged in.
void return_free_memory();

// Memory this process can still take without being killed, in bytes: the kernel's MemAvailable, or less when a
// cgroup (container) limit leaves less. -1 when neither can be read.
long long available_memory_bytes();

// Peak resident memory of this process so far (since the last reset_peak_resident), in bytes: Linux's VmHWM.
long long peak_resident_bytes();
// Start the peak over from the memory resident now (Linux: /proc/self/clear_refs), so a generation can say what each
// of its phases took; where that cannot be done the peak stays the process's.
void reset_peak_resident();

}  // namespace sdref

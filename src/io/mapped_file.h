// mapped_file.h: a whole file mapped read-only into memory (POSIX mmap). Weights are read straight from the
// page cache: a 2 GB fp16 checkpoint costs no copy and no allocation, and pages the run never touches are
// never read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sdref {

// What a model does with the pages of weights it has finished with, or is about to read.
enum class PageAdvice { Release, Populate };

class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);  // throws sdref::Error naming the path
    ~MappedFile();
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::string& path() const { return path_; }
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    // Release: let the kernel drop the pages of [offset, offset + length) from this process's memory (madvise
    // DONTNEED); the contents stay valid: a later read faults them back in from the page cache or the file.
    // Populate: map them all in one call (MADV_POPULATE_READ, Linux 5.14+; elsewhere a no-op and reads fault them
    // in one page at a time), about 20x cheaper than page faults for weights about to be read.
    void advise(size_t offset, size_t length, PageAdvice advice) const;

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

// Read a whole (small) file into a string; throws naming the path.
std::string read_text_file(const std::string& path);

// Whether something (a file or a folder) exists at `path`.
bool path_exists(const std::string& path);
// Whether `path` is a folder.
bool is_directory(const std::string& path);

}  // namespace sdref

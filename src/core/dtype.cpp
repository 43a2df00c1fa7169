#include "core/dtype.h"

namespace sdref {

namespace {
struct DTypeInfo {
    DType type;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1}, {DType::F8_E4M3, "F8_E4M3", 1},
};
}  // namespace

const char* dtype_name(DType t) { return kDTypes[int(t)].name; }
size_t dtype_size(DType t) { return kDTypes[int(t)].size; }

bool parse_dtype(const std::string& name, DType* out) {
    for (const DTypeInfo& info : kDTypes) {
        if (name == info.name) {
            *out = info.type;
            return true;
        }
    }
    return false;
}

}  // namespace sdref

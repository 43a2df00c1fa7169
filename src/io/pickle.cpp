#include "io/pickle.h"

#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace sdref {

const PyObject* PyObject::get(const std::string& key) const {
    for (const auto& [k, v] : dict)
        if (k->kind == Kind::Str && k->s == key) return v;
    return nullptr;
}

const char* py_kind_name(PyObject::Kind kind) {
    static const char* names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict", "global", "storage", "tensor", "mark"};
    return names[int(kind)];
}

namespace {

using Kind = PyObject::Kind;

// The globals a weight file may name, and what each builds. Storages map to their element type.
const std::pair<const char*, DType> kStorages[] = {
    {"torch.FloatStorage", DType::F32}, {"torch.HalfStorage", DType::F16},  {"torch.BFloat16Storage", DType::BF16},
    {"torch.DoubleStorage", DType::F64}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8},   {"torch.ByteStorage", DType::U8},
    {"torch.BoolStorage", DType::BOOL}};
const char* const kCallables[] = {"collections.OrderedDict",   "torch._utils._rebuild_tensor_v2",
                                  "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
                                  "torch._tensor._rebuild_from_type_v2", "_codecs.encode",
                                  "torch.nn.parameter.Parameter", "torch.Tensor"};

bool allowed_global(const std::string& name) {
    for (const auto& [s, d] : kStorages)
        if (name == s) return true;
    for (const char* c : kCallables)
        if (name == c) return true;
    return false;
}

class Machine {
public:
    Machine(const std::string& bytes, const std::string& source, std::deque<PyObject>& arena)
        : in_(reinterpret_cast<const uint8_t*>(bytes.data())), size_(bytes.size()), source_(source), arena_(arena) {}

    PyObject* run();

private:
    [[noreturn]] void bad(const std::string& what) const { fail(source_, ": pickle byte ", op_at_, ": ", what); }

    const uint8_t* take(size_t n) {
        if (n > size_ - pos_) bad("truncated (an opcode's argument runs past the end)");
        const uint8_t* p = in_ + pos_;
        pos_ += n;
        return p;
    }
    uint64_t uint_le(size_t n) {
        const uint8_t* p = take(n);
        uint64_t v = 0;
        for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
        return v;
    }
    std::string text(size_t n) {
        const uint8_t* p = take(n);
        return std::string(reinterpret_cast<const char*>(p), n);
    }
    std::string line() {
        const size_t start = pos_;
        while (pos_ < size_ && in_[pos_] != '\n') ++pos_;
        if (pos_ >= size_) bad("truncated (no end of line)");
        return std::string(reinterpret_cast<const char*>(in_ + start), pos_++ - start);
    }

    PyObject* make(Kind k) {
        arena_.emplace_back();
        arena_.back().kind = k;
        return &arena_.back();
    }
    PyObject* make_int(int64_t v) {
        PyObject* o = make(Kind::Int);
        o->i = v;
        return o;
    }
    PyObject* make_str(Kind k, std::string s) {
        PyObject* o = make(k);
        o->s = std::move(s);
        return o;
    }

    void push(PyObject* o) { stack_.push_back(o); }
    PyObject* pop() {
        if (stack_.empty() || stack_.back()->kind == Kind::Mark) bad("stack underflow");
        PyObject* o = stack_.back();
        stack_.pop_back();
        return o;
    }
    PyObject* top() {
        if (stack_.empty() || stack_.back()->kind == Kind::Mark) bad("stack underflow");
        return stack_.back();
    }
    // Everything above the topmost mark, which is removed.
    std::vector<PyObject*> pop_to_mark() {
        size_t m = stack_.size();
        while (m > 0 && stack_[m - 1]->kind != Kind::Mark) --m;
        if (m == 0) bad("no mark on the stack");
        std::vector<PyObject*> items(stack_.begin() + ptrdiff_t(m), stack_.end());
        stack_.resize(m - 1);
        return items;
    }
    PyObject* tuple(std::vector<PyObject*> items) {
        PyObject* t = make(Kind::Tuple);
        t->items = std::move(items);
        return t;
    }
    PyObject* container(Kind k, const char* what) {
        PyObject* o = top();
        if (o->kind != k) bad(std::string(what) + " on a " + py_kind_name(o->kind));
        return o;
    }
    void set_items(PyObject* d, const std::vector<PyObject*>& kv) {
        if (kv.size() % 2) bad("SETITEMS with an odd number of items");
        for (size_t i = 0; i < kv.size(); i += 2) d->dict.emplace_back(kv[i], kv[i + 1]);
    }
    void global(const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        if (!allowed_global(full))
            bad("the pickle asks for the Python global \"" + full + "\", which a weights file has no need of and which sdref "
                "refuses (only tensors, storages and plain data are read; no code is ever run)");
        push(make_str(Kind::Global, full));
    }

    int64_t as_int(const PyObject* o, const char* what) {
        if (o->kind != Kind::Int && o->kind != Kind::Bool) bad(std::string(what) + " is a " + py_kind_name(o->kind) + ", not an int");
        return o->i;
    }
    Shape as_shape(const PyObject* o, const char* what) {
        if (o->kind != Kind::Tuple) bad(std::string(what) + " is not a tuple");
        Shape s;
        for (const PyObject* d : o->items) {
            const int64_t v = as_int(d, what);
            if (v < 0 || v > (int64_t(1) << 40)) bad(std::string(what) + " holds " + std::to_string(v));
            s.push_back(v);
        }
        return s;
    }
    PyObject* call(const PyObject* callable, const PyObject* args);
    PyObject* persistent(const PyObject* pid);

    const uint8_t* in_;
    size_t size_, pos_ = 0, op_at_ = 0;
    const std::string& source_;
    std::deque<PyObject>& arena_;
    std::vector<PyObject*> stack_;
    std::unordered_map<uint64_t, PyObject*> memo_;
};

PyObject* Machine::call(const PyObject* callable, const PyObject* args) {
    if (callable->kind != Kind::Global) bad(std::string("REDUCE calls a ") + py_kind_name(callable->kind));
    if (args->kind != Kind::Tuple) bad("REDUCE arguments are not a tuple");
    const std::string& f = callable->s;
    const std::vector<PyObject*>& a = args->items;
    if (f == "collections.OrderedDict") {
        if (!a.empty()) bad("OrderedDict with arguments");
        return make(Kind::Dict);
    }
    if (f == "torch._utils._rebuild_tensor_v2") {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.size() < 4 || a[0]->kind != Kind::Storage) bad("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
        PyObject* t = make(Kind::Tensor);
        t->storage = a[0];
        t->dtype = a[0]->dtype;
        t->offset = as_int(a[1], "a tensor's storage offset");
        t->shape = as_shape(a[2], "a tensor's size");
        t->stride = as_shape(a[3], "a tensor's stride");
        if (t->shape.size() != t->stride.size()) bad("a tensor's size and stride differ in length");
        if (t->offset < 0) bad("negative storage offset");
        return t;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
        if (a.empty() || a[0]->kind != Kind::Tensor) bad("_rebuild_parameter without a tensor");
        return a[0];
    }
    if (f == "torch._tensor._rebuild_from_type_v2") {
        // (func, type, args, state): func(*args), whose result keeps its data
        if (a.size() < 3) bad("_rebuild_from_type_v2 needs (func, type, args, state)");
        return call(a[0], a[2]);
    }
    if (f == "_codecs.encode") {  // protocol-2 bytes: encode(text, "latin1")
        if (a.empty() || a[0]->kind != Kind::Str) bad("_codecs.encode without a string");
        std::string out;
        for (size_t i = 0; i < a[0]->s.size(); ++i) {  // UTF-8 code points below 256 -> one byte each
            const uint8_t c = uint8_t(a[0]->s[i]);
            if (c < 0x80) out += char(c);
            else if ((c == 0xc2 || c == 0xc3) && i + 1 < a[0]->s.size()) out += char(((c & 0x1f) << 6) | (uint8_t(a[0]->s[++i]) & 0x3f));
            else bad("_codecs.encode of a character outside latin-1");
        }
        return make_str(Kind::Bytes, out);
    }
    bad("\"" + f + "\" cannot be called");
}

PyObject* Machine::persistent(const PyObject* pid) {
    // ('storage', storage_type, key, location, numel)
    if (pid->kind != Kind::Tuple || pid->items.size() < 5 || pid->items[0]->kind != Kind::Str || pid->items[0]->s != "storage")
        bad("a persistent id that is not ('storage', type, key, location, numel)");
    const PyObject* type = pid->items[1];
    const PyObject* key = pid->items[2];
    if (type->kind != Kind::Global || key->kind != Kind::Str) bad("a storage id without a storage type and key");
    PyObject* s = make_str(Kind::Storage, key->s);
    bool known = false;
    for (const auto& [name, dtype] : kStorages)
        if (type->s == name) s->dtype = dtype, known = true;
    if (!known) bad("\"" + type->s + "\" is not a storage type");
    s->numel = as_int(pid->items[4], "a storage's size");
    if (s->numel < 0) bad("negative storage size");
    return s;
}

PyObject* Machine::run() {
    while (true) {
        op_at_ = pos_;
        const uint8_t op = *take(1);
        switch (op) {
            case 0x80: take(1); break;                     // PROTO
            case 0x95: take(8); break;                     // FRAME (a hint only)
            case '.': {                                    // STOP
                PyObject* result = pop();
                return result;
            }
            case '(': push(make(Kind::Mark)); break;       // MARK
            case '0': pop(); break;                        // POP
            case '1': pop_to_mark(); break;                // POP_MARK
            case '2': push(top()); break;                  // DUP
            case 'N': push(make(Kind::None)); break;
            case 0x88: case 0x89: {                        // NEWTRUE, NEWFALSE
                PyObject* b = make(Kind::Bool);
                b->i = op == 0x88;
                push(b);
                break;
            }
            case 'J': push(make_int(int32_t(uint32_t(uint_le(4))))); break;  // BININT
            case 'K': push(make_int(int64_t(uint_le(1)))); break;            // BININT1
            case 'M': push(make_int(int64_t(uint_le(2)))); break;            // BININT2
            case 0x8a: {                                   // LONG1: little-endian two's complement
                const size_t n = size_t(uint_le(1));
                if (n > 8) bad("an integer wider than 64 bits");
                const uint64_t v = n ? uint_le(n) : 0;
                const bool negative = n && (v >> (8 * n - 1)) & 1;
                push(make_int(n == 8 || !negative ? int64_t(v) : int64_t(v | (~uint64_t(0) << (8 * n)))));
                break;
            }
            case 'G': {                                    // BINFLOAT: big-endian double
                const uint8_t* p = take(8);
                uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
                PyObject* f = make(Kind::Float);
                std::memcpy(&f->f, &bits, 8);
                push(f);
                break;
            }
            case 'X': push(make_str(Kind::Str, text(size_t(uint_le(4))))); break;     // BINUNICODE
            case 0x8c: push(make_str(Kind::Str, text(size_t(uint_le(1))))); break;    // SHORT_BINUNICODE
            case 0x8d: push(make_str(Kind::Str, text(size_t(uint_le(8))))); break;    // BINUNICODE8
            case 'T': push(make_str(Kind::Str, text(size_t(uint_le(4))))); break;     // BINSTRING
            case 'U': push(make_str(Kind::Str, text(size_t(uint_le(1))))); break;     // SHORT_BINSTRING
            case 'B': push(make_str(Kind::Bytes, text(size_t(uint_le(4))))); break;   // BINBYTES
            case 'C': push(make_str(Kind::Bytes, text(size_t(uint_le(1))))); break;   // SHORT_BINBYTES
            case 0x8e: push(make_str(Kind::Bytes, text(size_t(uint_le(8))))); break;  // BINBYTES8
            case ')': push(tuple({})); break;                                         // EMPTY_TUPLE
            case 't': push(tuple(pop_to_mark())); break;                              // TUPLE
            case 0x85: case 0x86: case 0x87: {                                        // TUPLE1..3
                std::vector<PyObject*> items(size_t(op - 0x84));
                for (size_t i = items.size(); i-- > 0;) items[i] = pop();
                push(tuple(std::move(items)));
                break;
            }
            case ']': push(make(Kind::List)); break;                                  // EMPTY_LIST
            case 'l': {                                                               // LIST
                PyObject* l = make(Kind::List);
                l->items = pop_to_mark();
                push(l);
                break;
            }
            case 'a': {                                                               // APPEND
                PyObject* v = pop();
                container(Kind::List, "APPEND")->items.push_back(v);
                break;
            }
            case 'e': {                                                               // APPENDS
                std::vector<PyObject*> items = pop_to_mark();
                PyObject* l = container(Kind::List, "APPENDS");
                l->items.insert(l->items.end(), items.begin(), items.end());
                break;
            }
            case '}': push(make(Kind::Dict)); break;                                  // EMPTY_DICT
            case 'd': {                                                               // DICT
                PyObject* d = make(Kind::Dict);
                set_items(d, pop_to_mark());
                push(d);
                break;
            }
            case 's': {                                                               // SETITEM
                PyObject* v = pop();
                PyObject* k = pop();
                container(Kind::Dict, "SETITEM")->dict.emplace_back(k, v);
                break;
            }
            case 'u': {                                                               // SETITEMS
                std::vector<PyObject*> kv = pop_to_mark();
                set_items(container(Kind::Dict, "SETITEMS"), kv);
                break;
            }
            case 'q': memo_[uint_le(1)] = top(); break;                               // BINPUT
            case 'r': memo_[uint_le(4)] = top(); break;                               // LONG_BINPUT
            case 0x94: memo_[memo_.size()] = top(); break;                            // MEMOIZE
            case 'h': case 'j': {                                                     // BINGET, LONG_BINGET
                const auto it = memo_.find(uint_le(op == 'h' ? 1 : 4));
                if (it == memo_.end()) bad("BINGET of a memo entry never stored");
                push(it->second);
                break;
            }
            case 'c': {                                                               // GLOBAL "module\nname\n"
                const std::string module = line();
                global(module, line());
                break;
            }
            case 0x93: {                                                              // STACK_GLOBAL
                PyObject* name = pop();
                PyObject* module = pop();
                if (module->kind != Kind::Str || name->kind != Kind::Str) bad("STACK_GLOBAL of non-strings");
                global(module->s, name->s);
                break;
            }
            case 'R': case 0x81: {                                                    // REDUCE, NEWOBJ
                PyObject* args = pop();
                PyObject* callable = pop();
                push(call(callable, args));
                break;
            }
            case 'b': {                                                               // BUILD: set an object's state
                PyObject* state = pop();
                PyObject* o = top();
                if (o->kind == Kind::Dict && state->kind == Kind::Dict) o->dict.insert(o->dict.end(), state->dict.begin(), state->dict.end());
                else if (o->kind == Kind::Tensor || o->kind == Kind::Dict) {}  // tensor state (hooks, names) and empty states
                else bad(std::string("BUILD on a ") + py_kind_name(o->kind));
                break;
            }
            case 'Q': push(persistent(pop())); break;                                 // BINPERSID
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                bad(std::string("unsupported pickle opcode ") + hex + " (not one PyTorch's weight files use)");
            }
        }
    }
}

}  // namespace

Pickle::Pickle(const std::string& bytes, const std::string& source) { root_ = Machine(bytes, source, arena_).run(); }

}  // namespace sdref

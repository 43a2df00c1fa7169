// sdref tokenize: print the 77 CLIP token ids of a prompt (or the raw BPE ids with --raw).
#include <cstdio>
#include <optional>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "text/clip_tokenizer.h"

namespace sdref::cli {

int cmd_tokenize(int argc, char** argv) {
    Args args(argc, argv, 2);
    long long pad_id = ClipTokenizer::kPadSd1;
    bool raw = false;
    std::string folder, text;
    bool have_text = false;
    while (!args.done()) {
        const std::string a = args.next();
        if (a == "--pad-id") {
            pad_id = args.int_value(a);
            if (pad_id < 0 || pad_id > ClipTokenizer::kEndOfText) fail("--pad-id: ", pad_id, " is not a token id (0..49407)");
        } else if (a == "--tokenizer") {
            folder = args.value(a);
        } else if (a == "--raw") {
            raw = true;
        } else if (a == "-h" || a == "--help") {
            std::printf(
                "usage: sdref tokenize [--pad-id N] [--raw] [--tokenizer DIR] TEXT\n"
                "  Prints the CLIP token ids of TEXT: <|startoftext|>, at most 75 BPE ids, <|endoftext|>, padded\n"
                "  to 77 with N (49407 for SD 1.x, the default; 0 for SD 2.x).\n"
                "  --raw            print only the BPE ids, without start, end and padding\n"
                "  --tokenizer DIR  a diffusers tokenizer/ folder (vocab.json, merges.txt) instead of the built-in\n"
                "                   vocabulary\n");
            return 0;
        } else if (!have_text) {
            text = a;
            have_text = true;
        } else {
            fail("tokenize: unexpected argument \"", a, "\" (quote the prompt as one argument)");
        }
    }
    if (!have_text) fail("tokenize: missing TEXT (see sdref tokenize --help)");
    std::optional<ClipTokenizer> from_folder;
    if (!folder.empty()) from_folder = ClipTokenizer::from_folder(folder);
    const ClipTokenizer& tok = from_folder ? *from_folder : ClipTokenizer::builtin();
    const std::vector<int> ids = raw ? tok.encode(text) : tok.encode_padded(text, int(pad_id));
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
    std::printf("\n");
    return 0;
}

}  // namespace sdref::cli

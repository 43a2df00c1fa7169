// sdref serve: the HTTP server (src/server/server.h) with one resident model. Its flags are rows like every
// other: the server's own, then the folders the API's names are looked up in.
#include <csignal>
#include <cstdio>

#include "app/params.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "kernels/gemm.h"
#include "server/server.h"

namespace sdref::cli {

namespace {

struct ServeFlags {
    ServeOptions server;
    bool help;
};

using S = ServeFlags;

// clang-format off
const std::vector<Param<ServeFlags>>& serve_params() {
    static const std::vector<Param<S>> rows = {
        {"--model", "-m", nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "the checkpoint to load first (default: the TinyShapes demo model)", [](S& s) -> ParamRef { return &s.server.model; }},
        {"--listen", nullptr, nullptr, nullptr, "ADDR", "127.0.0.1", nullptr, 0, 0,
         "the address to listen on (0.0.0.0: every interface; think of --api-key first)",
         [](S& s) -> ParamRef { return &s.server.listen; }},
        {"--port", nullptr, nullptr, nullptr, "N", "7860", nullptr, 0, 65535, "the TCP port (0: any free one, printed)",
         [](S& s) -> ParamRef { return &s.server.port; }},
        {"--api-key", nullptr, nullptr, nullptr, "KEY", "", nullptr, 0, 0,
         "require this key on every route (Authorization: Bearer KEY, or X-API-Key; the page asks for it once)",
         [](S& s) -> ParamRef { return &s.server.api_key; }},
        {"--api-auth", nullptr, nullptr, nullptr, "USER:PASS", "", nullptr, 0, 0,
         "require HTTP basic authentication on every route (A1111's flag; several as u1:p1,u2:p2)",
         [](S& s) -> ParamRef { return &s.server.api_auth; }},
        {"--max-body-mb", nullptr, nullptr, nullptr, "N", "64", nullptr, 1, 4096, "the largest request body accepted",
         [](S& s) -> ParamRef { return &s.server.max_body_mb; }},
        {"--max-queue", nullptr, nullptr, nullptr, "N", "64", nullptr, 1, 4096,
         "requests that may wait for the model; more are refused with 503", [](S& s) -> ParamRef { return &s.server.max_queue; }},
        {"--max-images", nullptr, nullptr, nullptr, "N", "16", nullptr, 1, 10000, "images one request may ask for",
         [](S& s) -> ParamRef { return &s.server.max_images; }},
        for_every_request<S>("--low-memory", [](S& s) -> ParamRef { return &s.server.low_memory; }),
        for_every_request<S>("--precision", [](S& s) -> ParamRef { return &s.server.precision; }),
        for_every_request<S>("--threads", [](S& s) -> ParamRef { return &s.server.threads; }),
        {"--taesd", nullptr, nullptr, nullptr, "PATH", "", nullptr, 0, 0,
         "live previews (the page's, /sdapi/v1/progress's current_image) decoded by this TAESD",
         [](S& s) -> ParamRef { return &s.server.preview_taesd; }},
        {"--verbose", "-v", nullptr, nullptr, "", "false", nullptr, 0, 0, "model loads and unused tensors on stderr",
         [](S& s) -> ParamRef { return &s.server.verbose; }},
        {"--help", "-h", nullptr, nullptr, "", "false", nullptr, 0, 0, "this help", [](S& s) -> ParamRef { return &s.help; }},
    };
    return rows;
}
// clang-format on

Server* running = nullptr;

}  // namespace

int cmd_serve(int argc, char** argv) {
    Args args(argc, argv, 2);
    ServeFlags f = with_defaults(serve_params(), Origin::Cli);
    Folders folders = with_defaults(folder_params(), Origin::Cli);
    while (!args.done()) {
        const std::string a = args.next();
        const Param<ServeFlags>* p = find_flag(serve_params(), a);
        const Param<Folders>* d = find_flag(folder_params(), a);
        if (p) set_param(*p, f, *p->metavar ? args.value(a) : "true", a, Origin::Cli);
        else if (d) set_param(*d, folders, args.value(a), a, Origin::Cli);
        else fail("serve: unknown option \"", a, "\" (see sdref serve --help)");
        if (f.help) {
            std::printf("usage: sdref serve [options]  (--low-memory, --precision and --threads apply to every request)\n%s%s",
                        usage_lines(serve_params()).c_str(), usage_lines(folder_params()).c_str());
            return 0;
        }
    }
    const std::string model = f.server.model.empty() ? default_model_path() : f.server.model;
    Server server(f.server, folders, model);
    const int port = server.bind();
    std::printf("sdref serve: %s on http://%s:%d/\n", model.c_str(), f.server.listen.c_str(), port);
    std::fflush(stdout);
    running = &server;
    std::signal(SIGINT, [](int) { running->stop(); });
    std::signal(SIGTERM, [](int) { running->stop(); });
    server.run();
    running = nullptr;
    return 0;
}

}  // namespace sdref::cli

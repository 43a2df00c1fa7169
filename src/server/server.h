// server.h: `sdref serve`: A1111's HTTP API (the subset tools use), OpenAI's images endpoint and the web page,
// over one resident model. Requests queue and run one at a time on a worker thread with all cores; the HTTP
// threads only parse, wait and answer, so /progress and /interrupt answer while a generation runs.
// docs/server.md lists the endpoints.
#pragma once

#include <memory>
#include <string>

#include "app/request.h"

namespace sdref {

struct ServeOptions {
    std::string model;          // the checkpoint to serve (a path); empty: the demo model
    std::string listen;         // the address to bind ("127.0.0.1")
    int64_t port;               // 0: any free port (bind() says which)
    std::string api_key;        // required on every route when set (Authorization: Bearer, X-API-Key or the page's cookie)
    std::string api_auth;       // "user:pass[,user:pass...]": HTTP basic authentication on every route
    int64_t max_body_mb;        // request bodies above this are refused (413)
    int64_t max_queue;          // requests waiting beyond this are refused (503)
    int64_t max_images;         // images per request (n_iter * batch_size)
    bool low_memory, verbose;
    std::string precision;      // every generation's matrix products: "fp32" or "bf16" (empty: fp32)
    int64_t threads = 0;        // every generation's CPU threads (0: all)
    std::string preview_taesd;  // live previews decoded by this TAESD (empty: the latent-to-RGB map)
    std::string upscalers;      // Real-ESRGAN files that /sdapi/v1/extra-single-image and hr_upscaler name
};

class Server {
public:
    Server(const ServeOptions& options, const Folders& folders, const std::string& default_model);
    ~Server();
    // Bind the listening socket; returns the port (the chosen one when options.port is 0).
    int bind();
    // Serve until stop() (from another thread or a signal handler's thread).
    void run();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sdref

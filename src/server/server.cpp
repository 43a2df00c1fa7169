#include "server/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "app/animate.h"
#include "app/engine.h"
#include "core/base64.h"
#include "core/error.h"
#include "schedulers/scheduler.h"
#include "schedulers/sigma_schedules.h"
#include "server/api.h"
#include "pipeline/resize.h"
#include "pipeline/webp_anim.h"
#include "server/web_page.h"

namespace sdref {

// The most frames one POST /sdref/v1/animate may ask for (about 4 minutes of the demo model on 2 cores).
constexpr int64_t kMaxAnimationFrames = 240;

using api::ApiError;
using api::json;

namespace {

// Equal strings in time that does not depend on where they differ (keys and passwords).
bool same_secret(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    return diff == 0 && !b.empty();
}

std::string cookie(const httplib::Request& req, const std::string& name) {
    const std::string all = req.get_header_value("Cookie");
    for (size_t at = 0; at < all.size();) {
        size_t end = all.find(';', at);
        if (end == std::string::npos) end = all.size();
        std::string kv = all.substr(at, end - at);
        while (!kv.empty() && kv[0] == ' ') kv.erase(0, 1);
        if (kv.compare(0, name.size() + 1, name + "=") == 0) return httplib::detail::decode_url(kv.substr(name.size() + 1), false);
        at = end + 1;
    }
    return "";
}

const char* status_text(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 413: return "Payload Too Large";
        case 422: return "Unprocessable Entity";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        case 507: return "Insufficient Storage";
        default: return "Error";
    }
}

const char* kKeyPage =
    "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><title>sdref: API key</title>"
    "<form style='font:16px sans-serif;max-width:20em;margin:4em auto' onsubmit=\"document.cookie='sdref_key='+"
    "encodeURIComponent(k.value)+';path=/;SameSite=Strict';location.reload();return false\">"
    "<p>This sdref server needs its API key.<p><input id=k type=password autofocus style='width:100%'>"
    "<p><button>Open</button></form>";

}  // namespace

struct Server::Impl {
    ServeOptions options;
    Engine engine;
    httplib::Server http;
    int port = 0;
    socket_t listen_socket = INVALID_SOCKET;

    // the queue: tasks run in order on the worker thread, each one a whole request
    std::mutex queue_mutex;
    std::condition_variable queue_ready;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
    std::thread worker;

    // what /progress reports
    std::mutex progress_mutex;
    int64_t jobs = 0;  // queued and running
    bool busy = false;
    int64_t image = 0, images = 0;
    int step = 0, steps = 0;
    std::chrono::steady_clock::time_point started;
    std::string job_timestamp;
    Image preview;
    std::atomic<bool> interrupt{false};

    Impl(const ServeOptions& o, const Folders& folders, const std::string& default_model)
        : options(o), engine([&] {
              EngineOptions eo;
              eo.folders = folders;
              eo.origin = Origin::Api;
              eo.default_model = default_model;
              eo.verbose = o.verbose;
              eo.preview_taesd = o.preview_taesd;
              return eo;
          }()) {
        worker = std::thread([this] { work(); });
        routes();
    }

    ~Impl() {
        {
            std::lock_guard<std::mutex> lock(queue_mutex);
            stopping = true;
        }
        queue_ready.notify_all();
        worker.join();
    }

    void work() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock<std::mutex> lock(queue_mutex);
                queue_ready.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) return;
                task = std::move(queue.front());
                queue.pop_front();
            }
            task();
        }
    }

    // Run `fn` on the worker after the tasks before it; its result or its exception comes back here.
    template <class R>
    R submit(std::function<R()> fn) {
        std::packaged_task<R()> task(std::move(fn));
        std::future<R> done = task.get_future();
        {
            std::lock_guard<std::mutex> lock(queue_mutex);
            if (int64_t(queue.size()) >= options.max_queue)
                throw ApiError{503, "", "the queue is full (" + std::to_string(options.max_queue) + " requests waiting; --max-queue)"};
            auto shared = std::make_shared<std::packaged_task<R()>>(std::move(task));
            queue.emplace_back([shared] { (*shared)(); });
        }
        {
            std::lock_guard<std::mutex> lock(progress_mutex);
            ++jobs;
        }
        queue_ready.notify_one();
        struct Done {
            Impl* self;
            ~Done() {
                std::lock_guard<std::mutex> lock(self->progress_mutex);
                --self->jobs;
            }
        } done_guard{this};
        return done.get();
    }

    // One generation on the worker, with progress and the live preview.
    std::vector<GeneratedImage> generate(GenerationRequest& r, bool* interrupted) {
        return run_job<std::vector<GeneratedImage>>(r, r.images(), interrupted, [this, &r](const std::function<void(const Progress&)>& progress) {
            std::vector<GeneratedImage> out = engine.run(r, progress);
            if (r.model.empty()) r.model = std::filesystem::path(engine.model_path()).stem().string();
            return out;
        });
    }

    // An animation on the worker (app/animate.h): progress per frame (image k of frames) and step, the live preview.
    std::vector<AnimationFrame> animate_job(GenerationRequest& r, const AnimationSettings& s, bool* interrupted) {
        return run_job<std::vector<AnimationFrame>>(r, s.frames, interrupted, [this, &r, &s](const std::function<void(const Progress&)>& progress) {
            return animate(engine, r, s, [](const std::string& setting) { return "animation." + setting; }, {},
                           [&](int64_t k, const Progress& p) { progress({k, p.images, p.step, p.steps, p.latents}); });
        });
    }

    // A job on the worker: the request's server-wide settings applied, progress (`total` pictures) and the live
    // preview kept for /sdapi/v1/progress, interruptible.
    template <class R>
    R run_job(GenerationRequest& r, int64_t total, bool* interrupted, const std::function<R(const std::function<void(const Progress&)>&)>& job) {
        return submit<R>([this, &r, total, interrupted, &job] {
            interrupt = false;
            {
                std::lock_guard<std::mutex> lock(progress_mutex);
                busy = true;
                image = step = steps = 0;
                images = total;
                started = std::chrono::steady_clock::now();
                job_timestamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   std::chrono::system_clock::now().time_since_epoch()).count());
                preview = {};
            }
            struct Idle {
                Impl* self;
                ~Idle() {
                    std::lock_guard<std::mutex> lock(self->progress_mutex);
                    self->busy = false;
                }
            } idle{this};
            r.low_memory = r.low_memory || options.low_memory;
            if (!options.precision.empty()) r.precision = options.precision;
            if (options.threads > 0) r.threads = options.threads;
            R out = job([this, total](const Progress& p) {
                Image shot = engine.preview_image(p.latents);
                {
                    std::lock_guard<std::mutex> lock(progress_mutex);
                    image = p.image;
                    images = total;
                    step = p.step;
                    steps = p.steps;
                    preview = std::move(shot);
                }
                if (interrupt) throw Interrupted{};
            });
            *interrupted = interrupt;
            return out;
        });
    }

    void check_images(const GenerationRequest& r) {
        if (r.images() > options.max_images)
            throw ApiError{422, "batch_size", "batch_size * n_iter: at most " + std::to_string(options.max_images) + " images per request, got " +
                                                  std::to_string(r.images()) + " (--max-images)"};
    }

    static void send(httplib::Response& res, const json& body, int status = 200) {
        res.status = status;
        res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    }

    static void send_error(httplib::Response& res, int status, const std::string& field, const std::string& detail) {
        json body = {{"error", status_text(status)}, {"detail", detail}};
        if (!field.empty()) body["field"] = field;
        send(res, body, status);
    }

    // Every route through here: authentication was checked before; errors become JSON with a 4xx.
    template <class Fn>
    auto guarded(Fn fn) {
        return [fn](const httplib::Request& req, httplib::Response& res) {
            try {
                fn(req, res);
            } catch (const ApiError& e) {
                send_error(res, e.status, e.field, e.message);
            } catch (const Error& e) {
                send_error(res, 422, "", e.what());
            } catch (const std::bad_alloc&) {
                send_error(res, 507, "", "out of memory: the generation is too large for this machine");
            } catch (const std::exception& e) {
                send_error(res, 500, "", e.what());
            }
        };
    }

    bool authorized(const httplib::Request& req) const {
        if (options.api_key.empty() && options.api_auth.empty()) return true;
        if (!options.api_key.empty()) {
            const std::string auth = req.get_header_value("Authorization");
            if (auth.compare(0, 7, "Bearer ") == 0 && same_secret(auth.substr(7), options.api_key)) return true;
            if (same_secret(req.get_header_value("X-API-Key"), options.api_key)) return true;
            if (same_secret(cookie(req, "sdref_key"), options.api_key)) return true;
        }
        if (!options.api_auth.empty()) {
            const std::string auth = req.get_header_value("Authorization");
            if (auth.compare(0, 6, "Basic ") == 0) {
                std::string given;
                try {
                    const std::vector<uint8_t> bytes = base64_decode(auth.substr(6), "Authorization");
                    given.assign(bytes.begin(), bytes.end());
                } catch (const Error&) {
                    return false;
                }
                bool ok = false;
                for (size_t at = 0; at <= options.api_auth.size();) {
                    size_t end = options.api_auth.find(',', at);
                    if (end == std::string::npos) end = options.api_auth.size();
                    ok = same_secret(given, options.api_auth.substr(at, end - at)) || ok;
                    at = end + 1;
                }
                if (ok) return true;
            }
        }
        return false;
    }

    std::string model_title() {
        const std::string& path = engine.model_path().empty() ? engine.options().default_model : engine.model_path();
        return std::filesystem::path(path).filename().string();
    }

    void routes() {
        // Debian's cpp-httplib listens with a backlog of 5: a burst of connections overflows it and some are
        // dropped. Its socket-options hook sees the listening socket, so bind() can widen the backlog afterwards.
        http.set_socket_options([this](socket_t sock) {
            httplib::default_socket_options(sock);
            listen_socket = sock;
        });
        http.set_payload_max_length(size_t(options.max_body_mb) << 20);
        // A thread per waiting request (plus some for /progress): the queue, not the thread pool, bounds them
        const size_t threads = size_t(options.max_queue) + 8;
        http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
        http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            if (authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
            if (!options.api_auth.empty()) res.set_header("WWW-Authenticate", "Basic realm=\"sdref\"");
            if (req.path == "/" && !options.api_key.empty()) {
                res.status = 401;
                res.set_content(kKeyPage, "text/html; charset=utf-8");
            } else {
                send_error(res, 401, "", options.api_key.empty() ? "authentication required (--api-auth)" : "the API key is missing or wrong (--api-key)");
            }
            return httplib::Server::HandlerResponse::Handled;
        });
        http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            const std::string detail = res.status == 413 ? "the body is larger than the server accepts (--max-body-mb)"
                                       : res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                                           : std::string(status_text(res.status));
            send_error(res, res.status, "", detail);
        });

        http.Get("/", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(web_page(), "text/html; charset=utf-8");
            res.set_header("Content-Security-Policy", "default-src 'self' data: blob: 'unsafe-inline'");
        });
        http.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
        http.Get("/sdref/v1/params", guarded([](const httplib::Request&, httplib::Response& res) { send(res, api::params_table()); }));

        auto txt2img = [this](bool img2img) {
            return guarded([this, img2img](const httplib::Request& req, httplib::Response& res) {
                GenerationRequest r = api::txt2img_request(api::parse_body(req.body), img2img);
                check_images(r);
                bool interrupted = false;
                const std::vector<GeneratedImage> images = generate(r, &interrupted);
                send(res, api::txt2img_response(r, images, interrupted));
            });
        };
        http.Post("/sdapi/v1/txt2img", txt2img(false));
        http.Post("/sdapi/v1/img2img", txt2img(true));
        http.Post("/v1/images/generations", guarded([this](const httplib::Request& req, httplib::Response& res) {
            GenerationRequest r = api::openai_request(api::parse_body(req.body));
            check_images(r);
            bool interrupted = false;
            const std::vector<GeneratedImage> images = generate(r, &interrupted);
            send(res, api::openai_response(r, images));
        }));

        http.Get("/sdapi/v1/progress", guarded([this](const httplib::Request& req, httplib::Response& res) {
            const bool skip = req.get_param_value("skip_current_image") == "true";
            std::lock_guard<std::mutex> lock(progress_mutex);
            const double done = busy && images > 0 && steps > 0 ? (double(image) + double(step) / double(steps)) / double(images) : 0.0;
            const double elapsed = busy ? std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() : 0.0;
            json state = {{"skipped", false},        {"interrupted", bool(interrupt)},
                          {"job", busy ? "txt2img" : ""}, {"job_count", jobs},
                          {"job_timestamp", job_timestamp}, {"job_no", image},
                          {"sampling_step", step},   {"sampling_steps", steps}};
            json body = {{"progress", done},
                         {"eta_relative", done > 0 ? elapsed / done - elapsed : 0.0},
                         {"state", state},
                         {"current_image", nullptr},
                         {"textinfo", nullptr}};
            if (!skip && busy && !preview.pixels.empty()) body["current_image"] = base64_encode(encode_png(preview));
            send(res, body);
        }));
        // skip: A1111 moves on to the next image of a batch; sdref's batches stop, as with interrupt
        const auto stop_running = guarded([this](const httplib::Request&, httplib::Response& res) {
            interrupt = true;
            send(res, nullptr);
        });
        http.Post("/sdapi/v1/interrupt", stop_running);
        http.Post("/sdapi/v1/skip", stop_running);

        http.Get("/sdapi/v1/sd-models", guarded([this](const httplib::Request&, httplib::Response& res) {
            json list = json::array();
            Engine::Listing models = engine.list_models();
            if (models.empty()) {
                const std::string& d = engine.options().default_model;
                models.emplace_back(std::filesystem::path(d).stem().string(), d);
            }
            for (const auto& [name, path] : models)
                list.push_back({{"title", std::filesystem::path(path).filename().string()},
                                {"model_name", name},
                                {"hash", nullptr},
                                {"sha256", nullptr},
                                {"filename", path},
                                {"config", nullptr}});
            send(res, list);
        }));
        http.Get("/sdapi/v1/samplers", guarded([](const httplib::Request&, httplib::Response& res) {
            json list = json::array();
            for (const SamplerNames& s : sampler_table())
                list.push_back({{"name", s.a1111}, {"aliases", {s.alias, s.name}}, {"options", json::object()}});
            send(res, list);
        }));
        http.Get("/sdapi/v1/schedulers", guarded([](const httplib::Request&, httplib::Response& res) {
            json list = json::array({{{"name", "automatic"}, {"label", "Automatic"}}});
            for (const std::string& n : schedule_names())
                if (n != "discrete") {
                    const std::string label = a1111_schedule_label(n);
                    list.push_back({{"name", n}, {"label", label.empty() ? n : label}});
                }
            send(res, list);
        }));
        // the resident model (loaded now if none is) and its family's defaults: what the page's fields start from
        http.Get("/sdref/v1/model", guarded([this](const httplib::Request&, httplib::Response& res) {
            send(res, submit<json>([this] {
                const StableDiffusionModel& m = engine.model();
                const DenoiserInfo& d = m.denoiser().info();
                std::string sampler = d.default_sampler;
                for (const SamplerNames& s : sampler_table())
                    if (s.name == d.default_sampler) sampler = s.a1111;
                return json{{"title", model_title()}, {"family", m.info().family->name}, {"width", d.default_width},
                            {"height", d.default_height}, {"steps", d.default_steps}, {"cfg_scale", d.default_cfg},
                            {"sampler_name", sampler}};
            }));
        }));
        http.Get("/sdapi/v1/options", guarded([this](const httplib::Request&, httplib::Response& res) {
            send(res, {{"sd_model_checkpoint", model_title()}, {"sd_vae", "Automatic"}, {"CLIP_stop_at_last_layers", 1}});
        }));
        http.Post("/sdapi/v1/options", guarded([this](const httplib::Request& req, httplib::Response& res) {
            const json body = api::parse_body(req.body);
            if (body.contains("sd_model_checkpoint")) {
                if (!body["sd_model_checkpoint"].is_string())
                    throw ApiError{422, "sd_model_checkpoint", "sd_model_checkpoint: expected a model's title or name"};
                const std::string name = body["sd_model_checkpoint"].get<std::string>();
                submit<int>([this, name] {
                    engine.select_model(name);
                    return 0;
                });
            }
            send(res, nullptr);
        }));
        auto addon_list = [this](Engine::Listing (Engine::*list)() const) {
            return guarded([this, list](const httplib::Request&, httplib::Response& res) {
                json out = json::array();
                for (const auto& [name, path] : (engine.*list)()) out.push_back({{"name", name}, {"alias", name}, {"path", path}, {"metadata", json::object()}});
                send(res, out);
            });
        };
        http.Get("/sdapi/v1/loras", addon_list(&Engine::list_loras));
        http.Get("/sdapi/v1/hypernetworks", addon_list(&Engine::list_hypernetworks));
        http.Get("/sdapi/v1/sd-vae", guarded([this](const httplib::Request&, httplib::Response& res) {
            json out = json::array();
            for (const auto& [name, path] : engine.list_vaes()) out.push_back({{"model_name", name}, {"filename", path}});
            send(res, out);
        }));
        http.Get("/sdapi/v1/embeddings", guarded([this](const httplib::Request&, httplib::Response& res) {
            json loaded = json::object();
            for (const auto& [name, path] : engine.list_embeddings()) loaded[name] = {{"step", nullptr}, {"sd_checkpoint", nullptr}, {"filename", path}};
            send(res, {{"loaded", loaded}, {"skipped", json::object()}});
        }));
        http.Post("/sdref/v1/animate", guarded([this](const httplib::Request& req, httplib::Response& res) {
            const json body = api::parse_body(req.body);
            GenerationRequest r = api::txt2img_request(body, body.contains("init_images") && !body["init_images"].is_null());
            AnimationSettings s = api::animation_settings(body);
            if (s.frames > kMaxAnimationFrames)
                throw api::ApiError{422, "animation.frames", cat("animation.frames: at most ", kMaxAnimationFrames, ", got ", s.frames)};
            const double fps = api::animation_fps(body);
            bool interrupted = false;
            const std::vector<AnimationFrame> frames = animate_job(r, s, &interrupted);
            json pictures = json::array(), infotexts = json::array();
            std::vector<Image> images;
            for (const AnimationFrame& f : frames) {
                pictures.push_back(base64_encode(encode_png(f.image, {{"parameters", f.parameters}})));
                infotexts.push_back(f.parameters);
                images.push_back(f.image);
            }
            json out = {{"frames", pictures}, {"infotexts", infotexts}, {"interrupted", interrupted}, {"webp", nullptr}};
            if (!images.empty()) out["webp"] = base64_encode(encode_animated_webp(images, fps, "the animation"));
            send(res, out);
        }));
        http.Post("/sdapi/v1/extra-single-image", guarded([this](const httplib::Request& req, httplib::Response& res) {
            const api::ExtrasRequest r = api::extras_request(api::parse_body(req.body));
            const Image out = submit<Image>([this, &r] {
                Image img = r.image;
                const kernels::ThreadScope threads(int(options.threads));
                if (!r.upscaler.empty()) {
                    const Upscaler& model = engine.upscaler_named(r.upscaler, "upscaler_1");
                    const double scale = r.width ? std::max(double(r.width) / img.width, double(r.height) / img.height) : r.scale;
                    img = upscale_by(model, img, scale);
                    if (r.width && (img.width != r.width || img.height != r.height))
                        img = pil_resize(img, int(r.width), int(r.height), ResizeFilter::Lanczos);
                }
                return img;
            });
            std::string info = r.parameters;
            if (!r.upscaler.empty())
                info += std::string(info.empty() ? "" : ", ") + "Postprocess upscale by: " + cat(r.width ? 0.0 : r.scale) +
                        ", Postprocess upscaler: " + r.upscaler;
            send(res, {{"image", base64_encode(encode_png(out, {{"parameters", info}}))}, {"html_info", info}});
        }));
        http.Get("/sdapi/v1/upscalers", guarded([this](const httplib::Request&, httplib::Response& res) {
            json out = json::array({{{"name", "None"}, {"model_name", nullptr}, {"model_path", nullptr}, {"model_url", nullptr}, {"scale", 4}},
                                    {{"name", "Lanczos"}, {"model_name", nullptr}, {"model_path", nullptr}, {"model_url", nullptr}, {"scale", 4}}});
            for (const auto& [name, path] : engine.list_upscalers())
                out.push_back({{"name", name}, {"model_name", name}, {"model_path", path}, {"model_url", nullptr}, {"scale", 4}});
            send(res, out);
        }));
        http.Post("/sdapi/v1/png-info", guarded([](const httplib::Request& req, httplib::Response& res) {
            send(res, api::png_info(api::parse_body(req.body)));
        }));
        http.Get("/controlnet/model_list", guarded([this](const httplib::Request&, httplib::Response& res) {
            json names = json::array();
            for (const auto& [name, path] : engine.list_controlnets()) names.push_back(name);
            send(res, {{"model_list", names}});
        }));
        http.Get("/controlnet/module_list", guarded([](const httplib::Request&, httplib::Response& res) {
            send(res, {{"module_list", {"none", "canny"}}});
        }));
    }
};

Server::Server(const ServeOptions& options, const Folders& folders, const std::string& default_model)
    : impl_(std::make_unique<Impl>(options, folders, default_model)) {}

Server::~Server() = default;

int Server::bind() {
    if (impl_->options.port == 0) impl_->port = impl_->http.bind_to_any_port(impl_->options.listen);
    else if (impl_->http.bind_to_port(impl_->options.listen, int(impl_->options.port))) impl_->port = int(impl_->options.port);
    else impl_->port = -1;
    if (impl_->port > 0 && impl_->listen_socket != INVALID_SOCKET) ::listen(impl_->listen_socket, SOMAXCONN);
    if (impl_->port <= 0) fail("--listen ", impl_->options.listen, " --port ", impl_->options.port, ": cannot listen there (in use, or not an address of this machine)");
    return impl_->port;
}

void Server::run() {
    if (!impl_->http.listen_after_bind()) fail("the server stopped: listening failed on port ", impl_->port);
}

void Server::stop() { impl_->http.stop(); }

}  // namespace sdref

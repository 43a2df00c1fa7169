// sdref worker / sdref submit: generations on a Redis Streams job queue (worker/worker.h, docs/scale-out.md).
//   sdref worker --redis URL [--stream NAME] [--group NAME] [--consumer ID] [-m MODEL] [--model-dir DIR ...]
//   sdref submit --redis URL [--stream NAME] [the generation flags of sdref] -o OUT.png [--wait]
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "app/engine.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/base64.h"
#include "core/error.h"
#include "server/api.h"
#include "worker/redis.h"
#include "worker/worker.h"

namespace sdref::cli {

namespace {

struct QueueFlags {
    std::string redis, stream, group, consumer, dead_letter, model, output;
    int64_t claim_idle_ms, max_attempts, max_job_mb, max_images, max_jobs, timeout;
    bool wait, help;
    bool low_memory;       // worker: every job's --low-memory, --precision, --threads
    std::string precision;
    int64_t threads;
};

using Q = QueueFlags;

// The rows both commands share (where the queue is), then each command's own.
// clang-format off
std::vector<Param<Q>> queue_rows() {
    return {
        {"--redis", nullptr, nullptr, nullptr, "URL", "redis://127.0.0.1:6379", nullptr, 0, 0,
         "the Redis server: redis://[[user]:password@]host[:port][/db]", [](Q& q) -> ParamRef { return &q.redis; }},
        {"--stream", nullptr, nullptr, nullptr, "NAME", "sdref:jobs", nullptr, 0, 0, "the jobs' stream",
         [](Q& q) -> ParamRef { return &q.stream; }},
        {"--help", "-h", nullptr, nullptr, "", "false", nullptr, 0, 0, "this help", [](Q& q) -> ParamRef { return &q.help; }},
    };
}

const std::vector<Param<QueueFlags>>& worker_params() {
    static const std::vector<Param<Q>> rows = [] {
        std::vector<Param<Q>> r = queue_rows();
        const std::vector<Param<Q>> own = {
            {"--group", nullptr, nullptr, nullptr, "NAME", "sdref", nullptr, 0, 0, "the consumer group the workers share",
             [](Q& q) -> ParamRef { return &q.group; }},
            {"--consumer", nullptr, nullptr, nullptr, "ID", "", nullptr, 0, 0, "this worker's name in the group (default: host-pid)",
             [](Q& q) -> ParamRef { return &q.consumer; }},
            {"--dead-letter", nullptr, nullptr, nullptr, "NAME", "", nullptr, 0, 0, "where failed jobs go (default: STREAM:dead)",
             [](Q& q) -> ParamRef { return &q.dead_letter; }},
            {"--claim-idle", nullptr, nullptr, nullptr, "MS", "60000", nullptr, 100, 86400000,
             "take over a job whose worker has not been heard of for this long", [](Q& q) -> ParamRef { return &q.claim_idle_ms; }},
            {"--max-attempts", nullptr, nullptr, nullptr, "N", "3", nullptr, 1, 1000,
             "deliveries of one job before it goes to the dead letters", [](Q& q) -> ParamRef { return &q.max_attempts; }},
            {"--max-job-mb", nullptr, nullptr, nullptr, "N", "64", nullptr, 1, 4096, "the largest job accepted",
             [](Q& q) -> ParamRef { return &q.max_job_mb; }},
            {"--max-images", nullptr, nullptr, nullptr, "N", "16", nullptr, 1, 10000, "images one job may ask for",
             [](Q& q) -> ParamRef { return &q.max_images; }},
            {"--max-jobs", nullptr, nullptr, nullptr, "N", "0", nullptr, 0, 1e12, "stop after this many jobs (0: never)",
             [](Q& q) -> ParamRef { return &q.max_jobs; }},
            {"--model", "-m", nullptr, nullptr, "PATH", "", nullptr, 0, 0, "the model a job that names none gets (default: the demo model)",
             [](Q& q) -> ParamRef { return &q.model; }},
            for_every_request<Q>("--low-memory", [](Q& q) -> ParamRef { return &q.low_memory; }),
            for_every_request<Q>("--precision", [](Q& q) -> ParamRef { return &q.precision; }),
            for_every_request<Q>("--threads", [](Q& q) -> ParamRef { return &q.threads; }),
        };
        r.insert(r.end() - 1, own.begin(), own.end());
        return r;
    }();
    return rows;
}

const std::vector<Param<QueueFlags>>& submit_params() {
    static const std::vector<Param<Q>> rows = [] {
        std::vector<Param<Q>> r = queue_rows();
        const std::vector<Param<Q>> own = {
            {"--output", "-o", nullptr, nullptr, "FILE", "output.png", nullptr, 0, 0, "with --wait: the PNG to write (batches add _1, _2, ...)",
             [](Q& q) -> ParamRef { return &q.output; }},
            {"--wait", nullptr, nullptr, nullptr, "", "false", nullptr, 0, 0, "wait for a worker to finish the job, then write its pictures",
             [](Q& q) -> ParamRef { return &q.wait; }},
            {"--timeout", nullptr, nullptr, nullptr, "S", "3600", nullptr, 1, 1e7, "with --wait: give up after this many seconds",
             [](Q& q) -> ParamRef { return &q.timeout; }},
        };
        r.insert(r.end() - 1, own.begin(), own.end());
        return r;
    }();
    return rows;
}
// clang-format on

std::atomic<bool> stopping{false};

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot read");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string numbered(const std::string& path, size_t i) {
    if (i == 0) return path;
    const std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + "_" + std::to_string(i) + p.extension().string())).string();
}

}  // namespace

int cmd_worker(int argc, char** argv) {
    Args args(argc, argv, 2);
    QueueFlags q = with_defaults(worker_params(), Origin::Cli);
    Folders folders = with_defaults(folder_params(), Origin::Cli);
    while (!args.done()) {
        const std::string a = args.next();
        if (!take(worker_params(), q, a, args) && !take(folder_params(), folders, a, args))
            fail("worker: unknown option \"", a, "\" (see sdref worker --help)");
        if (q.help) {
            std::printf("usage: sdref worker --redis URL [options]\n%s%s", usage_lines(worker_params()).c_str(), usage_lines(folder_params()).c_str());
            return 0;
        }
    }
    WorkerOptions o;
    o.redis = q.redis, o.stream = q.stream, o.group = q.group, o.consumer = q.consumer, o.dead_letter = q.dead_letter;
    o.claim_idle_ms = q.claim_idle_ms, o.max_attempts = q.max_attempts, o.max_job_bytes = q.max_job_mb << 20;
    o.max_images = q.max_images, o.max_jobs = q.max_jobs;
    o.low_memory = q.low_memory, o.precision = q.precision, o.threads = q.threads;
    EngineOptions eo;
    eo.folders = folders;
    eo.origin = Origin::Api;  // a job names files only inside the folders
    eo.default_model = q.model.empty() ? default_model_path() : q.model;
    Engine engine(eo);
    signal(SIGTERM, [](int) { stopping = true; });
    signal(SIGINT, [](int) { stopping = true; });
    std::fprintf(stderr, "sdref worker: %s, stream %s, group %s\n", RedisUrl::parse(o.redis).describe().c_str(), o.stream.c_str(), o.group.c_str());
    const int64_t done = run_worker(engine, o, stopping);
    std::fprintf(stderr, "sdref worker: stopped after %lld jobs\n", static_cast<long long>(done));
    return 0;
}

int cmd_submit(int argc, char** argv) {
    Args args(argc, argv, 2);
    QueueFlags q = with_defaults(submit_params(), Origin::Cli);
    GenerationRequest r = with_defaults(generation_params(), Origin::Cli);
    while (!args.done()) {
        const std::string a = args.next();
        if (!take(submit_params(), q, a, args) && !take(generation_params(), r, a, args))
            fail("submit: unknown option \"", a, "\" (see sdref submit --help)");
        if (q.help) {
            std::printf("usage: sdref submit --redis URL [generation flags] [--wait -o OUT.png]\n%s%s", usage_lines(submit_params()).c_str(),
                        usage_lines(generation_params()).c_str());
            return 0;
        }
    }
    // the job: A1111's JSON through the same table (files become base64, -m becomes the checkpoint's name), only the
    // values given, and "sdref_defaults": "command" so that the worker fills the rest as the command would (the
    // model's size, sampler and CFG; 20 steps) rather than with A1111's API defaults
    api::json body = api::request_json(r);
    GenerationRequest defaults = with_defaults(generation_params(), Origin::Cli);
    for (const Param<GenerationRequest>& p : generation_params())
        if (p.field && param_text(p.ref(r)) == param_text(p.ref(defaults))) body.erase(p.field);
    body["sdref_defaults"] = "command";
    if (r.init_image.given()) body["init_images"] = {base64_encode(file_bytes(r.init_image.source))};
    else body.erase("init_images");
    if (r.mask.given()) body["mask"] = base64_encode(file_bytes(r.mask.source));
    else body.erase("mask");
    if (!r.model.empty()) body["override_settings"] = {{"sd_model_checkpoint", std::filesystem::path(r.model).filename().string()}};
    Redis redis = Redis::connect(q.redis);
    const std::string id = redis.command({"XADD", q.stream, "*", "job", body.dump()}).str;
    const std::string result = q.stream + ":result:" + id;
    std::printf("%s\n", id.c_str());
    std::fflush(stdout);
    if (!q.wait) return 0;
    // wait for the worker's RPUSH, in slices a blocking command's reply timeout allows
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(q.timeout);
    for (;;) {
        const RedisReply popped = redis.command({"BLPOP", result + ":done", "5"});
        if (!popped.nil()) break;
        if (std::chrono::steady_clock::now() > deadline) fail("submit: job ", id, " not finished after ", q.timeout, " s (--timeout)");
    }
    const RedisReply h = redis.command({"HGETALL", result});
    const RedisReply* state = h.field("state");
    if (!state || state->str != "done") {
        const RedisReply* error = h.field("error");
        fail("submit: job ", id, ": ", error ? error->str : "no result");
    }
    const int64_t n = std::stoll(h.field("images")->str);
    for (int64_t i = 0; i < n; ++i) {
        const std::string path = numbered(q.output, size_t(i)), tmp = path + ".part";
        std::ofstream(tmp, std::ios::binary) << h.field("image." + std::to_string(i))->str;
        std::filesystem::rename(tmp, path);
        std::fprintf(stderr, "wrote %s\n", path.c_str());
    }
    redis.command({"DEL", result + ":done"});
    return 0;
}

}  // namespace sdref::cli

#include "worker/worker.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "server/api.h"
#include "worker/redis.h"

namespace sdref {

namespace {

// Store the outcome and acknowledge the entry, all or nothing; a job already done is only acknowledged.
// KEYS: result hash, stream, "<result>:done".  ARGV: group, entry id, then the hash's field/value pairs.
const char* kFinishScript = R"(
if redis.call('HGET', KEYS[1], 'state') == 'done' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HINCRBY', KEYS[1], 'completions', 1)
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
)";

struct Job {
    std::string id;
    std::string body;    // the "job" field
    std::string result;  // the result hash
    size_t bytes = 0;    // all its fields
    bool has_body = false;
};

Job job_of(const RedisReply& entry, const WorkerOptions& o) {  // [id, [field, value, ...]]
    Job j;
    j.id = entry.elements.at(0).str;
    const RedisReply& fields = entry.elements.at(1);
    for (const RedisReply& f : fields.elements) j.bytes += f.str.size();
    if (const RedisReply* b = fields.field("job")) j.body = b->str, j.has_body = true;
    const RedisReply* r = fields.field("result");
    j.result = r && !r->str.empty() ? r->str : o.stream + ":result:" + j.id;
    return j;
}

// Keeps the running job's idle time at zero from its own connection, so no other worker takes it over.
class Heartbeat {
public:
    Heartbeat(const WorkerOptions& o, const std::string& consumer) : o_(o), consumer_(consumer), redis_(Redis::connect(o.redis)) {
        thread_ = std::thread([this] { loop(); });
    }
    ~Heartbeat() {
        {
            std::lock_guard<std::mutex> lock(m_);
            quit_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void beat_for(const std::string& id) {
        std::lock_guard<std::mutex> lock(m_);
        id_ = id;
    }

private:
    void loop() {
        const auto every = std::chrono::milliseconds(std::max<int64_t>(o_.claim_idle_ms / 4, 50));
        std::unique_lock<std::mutex> lock(m_);
        while (!cv_.wait_for(lock, every, [this] { return quit_; })) {
            if (id_.empty()) continue;
            try {
                redis_.command({"XCLAIM", o_.stream, o_.group, consumer_, "0", id_, "JUSTID"});
            } catch (const Error& e) {
                std::fprintf(stderr, "sdref worker: heartbeat: %s\n", e.what());
            }
        }
    }
    const WorkerOptions& o_;
    std::string consumer_;
    Redis redis_;
    std::mutex m_;
    std::condition_variable cv_;
    std::string id_;
    bool quit_ = false;
    std::thread thread_;
};

class Worker {
public:
    Worker(Engine& engine, const WorkerOptions& o, const std::atomic<bool>& stop)
        : engine_(engine), o_(o), stop_(stop), redis_(Redis::connect(o.redis)) {
        consumer_ = o.consumer;
        if (consumer_.empty()) {
            char host[256] = "worker";
            gethostname(host, sizeof host - 1);
            consumer_ = std::string(host) + "-" + std::to_string(getpid());
        }
        dead_ = o.dead_letter.empty() ? o.stream + ":dead" : o.dead_letter;
        try {  // the group, reading from the stream's start (jobs queued before the first worker are not lost)
            redis_.command({"XGROUP", "CREATE", o.stream, o.group, "0", "MKSTREAM"});
        } catch (const Error& e) {
            if (std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
        }
    }

    int64_t run() {
        heartbeat_ = std::make_unique<Heartbeat>(o_, consumer_);
        int64_t done = 0;
        while (!stop_ && (o_.max_jobs == 0 || done < o_.max_jobs)) {
            const std::optional<Job> job = take();
            if (!job) continue;
            heartbeat_->beat_for(job->id);
            const bool finished = handle(*job);
            heartbeat_->beat_for("");
            done += finished;
        }
        return done;
    }

private:
    // A job whose worker died (pending longer than claim_idle_ms), else a new one; nothing within a second.
    std::optional<Job> take() {
        const RedisReply claimed = redis_.command({"XAUTOCLAIM", o_.stream, o_.group, consumer_, std::to_string(o_.claim_idle_ms), "0-0", "COUNT", "1"});
        if (claimed.elements.size() >= 2 && !claimed.elements[1].elements.empty()) return job_of(claimed.elements[1].elements[0], o_);
        const RedisReply fresh = redis_.command({"XREADGROUP", "GROUP", o_.group, consumer_, "COUNT", "1", "BLOCK", "1000", "STREAMS", o_.stream, ">"});
        if (fresh.nil() || fresh.elements.empty() || fresh.elements[0].elements.size() < 2 || fresh.elements[0].elements[1].elements.empty())
            return std::nullopt;
        return job_of(fresh.elements[0].elements[1].elements[0], o_);
    }

    int64_t deliveries(const Job& job) {
        const RedisReply p = redis_.command({"XPENDING", o_.stream, o_.group, job.id, job.id, "1"});
        return p.elements.empty() ? 1 : p.elements[0].elements.at(3).integer;
    }

    void status(const Job& job, const std::vector<std::string>& fields) {
        std::vector<std::string> argv = {"HSET", job.result + ":status", "worker", consumer_};
        argv.insert(argv.end(), fields.begin(), fields.end());
        redis_.command(argv);
    }

    void finish(const Job& job, const std::vector<std::string>& fields) {
        std::vector<std::string> argv = {"EVAL", kFinishScript, "3", job.result, o_.stream, job.result + ":done", o_.group, job.id};
        argv.insert(argv.end(), fields.begin(), fields.end());
        redis_.command(argv);
    }

    // The dead-letter stream gets the entry with its error; the result says so; the entry is acknowledged.
    void dead_letter(const Job& job, const std::string& error) {
        std::fprintf(stderr, "sdref worker: job %s: %s (to %s)\n", job.id.c_str(), error.c_str(), dead_.c_str());
        redis_.command({"XADD", dead_, "*", "id", job.id, "stream", o_.stream, "job", job.body.substr(0, size_t(o_.max_job_bytes)),
                        "error", error, "worker", consumer_});
        finish(job, {"state", "error", "error", error, "worker", consumer_});
        status(job, {"state", "error"});
    }

    // Returns whether the job reached an end (done or dead-lettered); false when it was released on SIGTERM.
    bool handle(const Job& job) {
        const int64_t n = deliveries(job);
        if (n > o_.max_attempts)
            return dead_letter(job, "delivered " + std::to_string(n) + " times without finishing (its workers died or were stopped)"), true;
        if (job.bytes > size_t(o_.max_job_bytes))
            return dead_letter(job, "the job is " + std::to_string(job.bytes) + " bytes, more than the worker's --max-job-mb (" + std::to_string(o_.max_job_bytes) + " bytes)"), true;
        if (!job.has_body) return dead_letter(job, "the entry has no \"job\" field (A1111's txt2img JSON)"), true;
        GenerationRequest r;
        try {
            const api::json body = api::parse_body(job.body);
            const bool command_defaults = body.contains("sdref_defaults") && body["sdref_defaults"] == "command";
            r = api::txt2img_request(body, body.contains("init_images") && !body["init_images"].is_null(),
                                     command_defaults ? Origin::Cli : Origin::Api);
            if (r.images() > o_.max_images)
                throw api::ApiError{422, "batch_size", cat("n_iter x batch_size: ", r.images(), " images, more than the worker's --max-images ", o_.max_images)};
        } catch (const api::ApiError& e) {
            return dead_letter(job, e.message), true;
        } catch (const Error& e) {
            return dead_letter(job, e.what()), true;
        }
        r.low_memory = r.low_memory || o_.low_memory;
        if (!o_.precision.empty()) r.precision = o_.precision;
        if (o_.threads > 0) r.threads = o_.threads;
        status(job, {"state", "running", "attempt", std::to_string(n)});
        std::vector<GeneratedImage> images;
        bool released = false;
        try {
            images = engine_.run(r, [&](const Progress& p) {
                status(job, {"image", std::to_string(p.image), "images", std::to_string(p.images), "step", std::to_string(p.step),
                             "steps", std::to_string(p.steps)});
                if (stop_) {
                    released = true;
                    throw Interrupted{};
                }
            });
        } catch (const Error& e) {
            return dead_letter(job, e.what()), true;
        }
        if (released || (stop_ && images.size() < size_t(r.images()))) {
            // SIGTERM: give the job back at once (its idle time set past claim_idle_ms, the delivery not counted)
            heartbeat_->beat_for("");
            redis_.command({"XCLAIM", o_.stream, o_.group, consumer_, "0", job.id, "IDLE", std::to_string(o_.claim_idle_ms + 1000), "JUSTID"});
            status(job, {"state", "released"});
            std::fprintf(stderr, "sdref worker: job %s released (stopping)\n", job.id.c_str());
            return false;
        }
        std::vector<std::string> fields = {"state", "done", "worker", consumer_, "images", std::to_string(images.size()),
                                           "parameters", images.empty() ? "" : images[0].parameters,
                                           "seed", std::to_string(images.empty() ? r.seed : images[0].seed)};
        for (size_t i = 0; i < images.size(); ++i) {
            fields.push_back("image." + std::to_string(i));
            fields.push_back(encode_png(images[i].image, {{"parameters", images[i].parameters}}));
        }
        finish(job, fields);
        status(job, {"state", "done"});
        return true;
    }

    Engine& engine_;
    const WorkerOptions& o_;
    const std::atomic<bool>& stop_;
    Redis redis_;
    std::string consumer_, dead_;
    std::unique_ptr<Heartbeat> heartbeat_;
};

}  // namespace

int64_t run_worker(Engine& engine, const WorkerOptions& options, const std::atomic<bool>& stop) {
    Worker w(engine, options, stop);
    return w.run();
}

}  // namespace sdref

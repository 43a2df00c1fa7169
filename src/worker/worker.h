// worker.h: `sdref worker`, one more front end of the Engine, taking jobs from a Redis Stream (docs/scale-out.md).
//
// A job is a stream entry with the fields
//   job      A1111's txt2img (or, with init_images, img2img) JSON, read through the API's parameter table
//   result   the hash to write the outcome to (default "<stream>:result:<entry id>")
// and its outcome is that hash: state "done" with images (image.0, image.1, ...: PNG bytes with their
// parameters), parameters and seed; or state "error" with the error, the entry also copied to the dead-letter
// stream. Progress is in the status hash "<result>:status" (state, image, images, step, steps, worker).
//
// Delivery, with a consumer group (XREADGROUP) so every job goes to one worker at a time:
//   take      first a job whose worker stopped answering (XAUTOCLAIM: pending longer than claim_idle_ms), else a
//             new one (XREADGROUP ... >, blocking up to a second)
//   run       while it runs, a heartbeat thread re-claims it every claim_idle_ms / 4 (XCLAIM JUSTID resets the
//             idle time), so a long job is never taken from a live worker
//   finish    one Lua script stores the result, acknowledges the entry (XACK) and wakes `submit --wait`
//             (RPUSH "<result>:done"), all or nothing; a job whose result is already stored is only acknowledged
//             (a worker that died after storing), so every job completes exactly once
//   fail      bad JSON, a field out of range, a job over max_job_bytes, a job delivered more than max_attempts
//             times (its workers keep dying): the entry goes to the dead-letter stream with the error
// SIGTERM: the job that is running is interrupted and released (XCLAIM IDLE makes it claimable at once), and the
// worker exits; SIGKILL or a lost machine: another worker claims the job after claim_idle_ms.
#pragma once

#include <atomic>
#include <string>

#include "app/engine.h"

namespace sdref {

struct WorkerOptions {
    std::string redis = "redis://127.0.0.1:6379";
    std::string stream = "sdref:jobs";
    std::string group = "sdref";
    std::string consumer;          // this worker's name in the group ("" : host-pid)
    std::string dead_letter;       // "" : "<stream>:dead"
    int64_t claim_idle_ms = 60000; // a job pending this long without a heartbeat is taken over
    int64_t max_attempts = 3;      // deliveries before a job goes to the dead letters
    int64_t max_job_bytes = 64 << 20;
    int64_t max_images = 16;       // images one job may ask for
    int64_t max_jobs = 0;          // stop after this many jobs (0: never)
    bool low_memory = false;
    std::string precision;         // every job's products ("": fp32)
    int64_t threads = 0;
};

// Runs jobs until `stop` is set (SIGTERM) or max_jobs are done; returns how many were finished.
int64_t run_worker(Engine& engine, const WorkerOptions& options, const std::atomic<bool>& stop);

}  // namespace sdref

// sdref worker on a Redis Stream (worker/worker.h): a redis-server of the test's own on a loopback port, three
// workers on the demo model, 60 jobs; one worker killed (SIGKILL) in the middle of a job and one stopped (SIGTERM).
// Every job completes exactly once with the picture the Engine (what the command runs) makes for the same JSON,
// malformed jobs reach the dead-letter stream with their error, nothing stays pending. Then `sdref submit --wait`.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "app/engine.h"
#include "core/error.h"
#include "golden.h"
#include "pipeline/image.h"
#include "server/api.h"
#include "worker/redis.h"

using namespace sdref;
using nlohmann::json;

namespace {

// A free loopback port (bound once by the kernel's choice, then released).
int free_port() {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    close(s);
    return ntohs(a.sin_port);
}

// A child process running `argv` (its output to `log`); killed with SIGKILL when the object goes.
struct Child {
    pid_t pid = -1;
    Child(const std::vector<std::string>& argv, const std::string& log) {
        std::fflush(stdout), std::fflush(stderr);  // (or the child's freopen writes the parent's buffered text again)
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            FILE* f = std::freopen(log.c_str(), "w", stderr);
            (void)f;
            std::freopen("/dev/null", "w", stdout);
            std::vector<char*> args;
            for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            execvp(args[0], args.data());
            _exit(127);
        }
    }
    int wait_exit() {
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
        return status;
    }
    ~Child() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

struct RedisServer {
    int port = free_port();
    std::string password;
    std::unique_ptr<Child> process;
    std::string url() const { return "redis://" + (password.empty() ? "" : ":" + password + "@") + "127.0.0.1:" + std::to_string(port); }
    explicit RedisServer(const std::string& dir, const std::string& requirepass = "") : password(requirepass) {
        REQUIRE(std::system("command -v redis-server > /dev/null") == 0);  // (tools/install-deps.sh installs it)
        std::vector<std::string> argv = {"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir};
        if (!password.empty()) argv.insert(argv.end(), {"--requirepass", password});
        process = std::make_unique<Child>(argv, dir + "/redis.log");
        for (int i = 0; i < 200; ++i) {
            try {
                Redis::connect(url(), 1).command({"PING"});
                return;
            } catch (const Error&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(25));
            }
        }
        FAIL("redis-server did not start on port " << port);
    }
};

std::string demo_model() { return std::string(SDREF_SOURCE_DIR) + "/models/tinyshapes.safetensors"; }

json job_json(int i) {
    return {{"prompt", i % 2 ? "a red circle" : "a blue square"}, {"seed", 1000 + i}, {"steps", 3 + i % 3}, {"width", 64}, {"height", 64},
            {"sampler_name", i % 3 ? "Euler a" : "DPM++ 2M"}};
}

}  // namespace

TEST_CASE("sdref worker: 3 workers, 60 jobs, one killed and one stopped: every job done once, dead letters for bad ones", "[worker]") {
    const std::string dir = test::scratch_dir("worker");
    const RedisServer server(dir);
    Redis redis = Redis::connect(server.url());
    const std::string stream = "sdref:jobs";
    // 60 jobs, and 3 that must reach the dead letters
    std::map<std::string, int> job_of_id;
    for (int i = 0; i < 60; ++i) job_of_id[redis.command({"XADD", stream, "*", "job", job_json(i).dump()}).str] = i;
    const std::string bad_json = redis.command({"XADD", stream, "*", "job", "{\"prompt\": \"x\", "}).str;
    const std::string bad_field = redis.command({"XADD", stream, "*", "job", json{{"prompt", "x"}, {"steps", -4}}.dump()}).str;
    const std::string no_job = redis.command({"XADD", stream, "*", "payload", "{}"}).str;
    const std::string too_large = redis.command({"XADD", stream, "*", "job", json{{"prompt", std::string(1500000, 'x')}}.dump()}).str;

    auto worker = [&](const std::string& name) {
        return std::make_unique<Child>(std::vector<std::string>{test::sdref_binary(), "worker", "--redis", server.url(), "--consumer", name,
                                                                "--claim-idle", "1500", "--max-job-mb", "1", "-m", demo_model(), "--threads", "1"},
                                       dir + "/" + name + ".log");
    };
    std::unique_ptr<Child> w1 = worker("w1"), w2 = worker("w2"), w3 = worker("w3");
    // w1 is killed while it holds a job, w2 stopped with SIGTERM a little later
    std::string killed_job;
    for (int i = 0; i < 4000 && killed_job.empty(); ++i) {
        RedisReply p;
        try {
            p = redis.command({"XPENDING", stream, "sdref", "-", "+", "10", "w1"});
        } catch (const Error&) {  // (no group until the first worker has made it)
        }
        if (!p.elements.empty() && redis.command({"EXISTS", stream + ":result:" + p.elements[0].elements[0].str + ":status"}).integer)
            killed_job = p.elements[0].elements[0].str;
        else std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(!killed_job.empty());
    kill(w1->pid, SIGKILL);
    w1->wait_exit();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(w2->pid, SIGTERM);
    const int stopped = w2->wait_exit();
    CHECK(WIFEXITED(stopped));
    CHECK(WEXITSTATUS(stopped) == 0);
    // w3 finishes everything, taking over w1's job after its idle time
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(600);
    for (;;) {
        const RedisReply summary = redis.command({"XPENDING", stream, "sdref"});
        const RedisReply info = redis.command({"XINFO", "GROUPS", stream});
        const RedisReply* lag = info.elements.at(0).field("lag");
        if (summary.elements.at(0).integer == 0 && lag && lag->integer == 0) break;
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    w3.reset();

    // every job done exactly once, with the Engine's picture and parameters for its JSON
    EngineOptions eo;
    eo.origin = Origin::Api;
    eo.default_model = demo_model();
    Engine engine(eo);
    std::map<std::string, int> by_worker;
    for (const auto& [id, i] : job_of_id) {
        INFO("job " << i << " (" << id << ")");
        const RedisReply h = redis.command({"HGETALL", stream + ":result:" + id});
        REQUIRE(h.field("state"));
        CHECK(h.field("state")->str == "done");
        CHECK(h.field("completions")->str == "1");
        ++by_worker[h.field("worker")->str];
        GenerationRequest r = api::txt2img_request(job_json(i), false);
        const std::vector<GeneratedImage> want = engine.run(r);
        const std::string png = h.field("image.0")->str;
        const Image got = decode_image(reinterpret_cast<const uint8_t*>(png.data()), png.size(), 3, "result");
        CHECK(got.pixels == want[0].image.pixels);
        CHECK(h.field("parameters")->str == want[0].parameters);
        if (id == killed_job) CHECK(h.field("worker")->str != "w1");  // taken over
    }
    CHECK(by_worker["w3"] > 0);
    // the malformed jobs are in the dead letters, with their errors
    const RedisReply dead = redis.command({"XRANGE", stream + ":dead", "-", "+"});
    std::map<std::string, std::string> error_of;
    for (const RedisReply& e : dead.elements) error_of[e.elements[1].field("id")->str] = e.elements[1].field("error")->str;
    CHECK(error_of.size() == 4);
    CHECK_THAT(error_of[too_large], Catch::Contains("--max-job-mb"));
    CHECK_THAT(error_of[bad_json], Catch::Contains("not valid JSON"));
    CHECK_THAT(error_of[bad_field], Catch::Contains("steps"));
    CHECK_THAT(error_of[no_job], Catch::Contains("no \"job\" field"));
    CHECK(redis.command({"HGET", stream + ":result:" + bad_field, "state"}).str == "error");

    // sdref submit --wait: a worker takes it, the picture is the command's
    std::unique_ptr<Child> w4 = worker("w4");
    const test::Run submitted = test::run("submit --redis " + server.url() + " -p 'a red circle' --steps 4 -s 7 -W 64 -H 64 -m " +
                                          test::quote(demo_model()) + " --wait --timeout 300 -o " + test::quote(dir + "/submitted.png"));
    INFO(submitted.output);
    REQUIRE(submitted.status == 0);
    const test::Run direct = test::run("-p 'a red circle' --steps 4 -s 7 -W 64 -H 64 -m " + test::quote(demo_model()) + " -o " +
                                       test::quote(dir + "/direct.png"));
    REQUIRE(direct.status == 0);
    CHECK(read_image(dir + "/submitted.png", 3).pixels == read_image(dir + "/direct.png", 3).pixels);
    // bad URLs are clear errors
    CHECK_THAT(test::run("submit --redis rediss://x:1 -p x").output, Catch::Contains("TLS"));
    CHECK_THAT(test::run("submit --redis http://x -p x").output, Catch::Contains("not a redis:// URL"));
    CHECK_THAT(test::run("submit --redis redis://127.0.0.1:1 -p x").output, Catch::Contains("cannot connect"));
}

TEST_CASE("sdref worker and submit with a password: the URL's password is sent, a wrong one is a clear error", "[worker]") {
    const std::string dir = test::scratch_dir("worker-auth");
    const RedisServer server(dir, "s3cret word");
    const std::string url = "redis://:s3cret%20word@127.0.0.1:" + std::to_string(server.port);
    CHECK(Redis::connect(server.url()).command({"PING"}).str == "PONG");
    CHECK_THROWS_WITH(Redis::connect("redis://127.0.0.1:" + std::to_string(server.port)).command({"XLEN", "sdref:jobs"}), Catch::Contains("NOAUTH"));
    CHECK_THROWS_WITH(Redis::connect("redis://:wrong@127.0.0.1:" + std::to_string(server.port)), Catch::Contains("AUTH"));
    // the worker with the password takes a job queued by submit with it
    CHECK(Redis::connect(url).command({"PING"}).str == "PONG");  // (%-escaped)
    const auto worker = std::make_unique<Child>(std::vector<std::string>{test::sdref_binary(), "worker", "--redis", url, "--max-jobs", "1",
                                                                         "-m", demo_model(), "--threads", "1"},
                                                dir + "/w.log");
    const test::Run r = test::run("submit --redis " + test::quote(server.url()) + " -p 'a star' --steps 2 -W 64 -H 64 --wait --timeout 120 -o " +
                                  test::quote(dir + "/out.png"));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(std::filesystem::exists(dir + "/out.png"));
}

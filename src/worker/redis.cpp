#include "worker/redis.h"

#include <hiredis/hiredis.h>

#include <cctype>
#include <cmath>

#include "core/error.h"

namespace sdref {

const RedisReply* RedisReply::field(const std::string& f) const {
    if (type != Array) return nullptr;
    for (size_t i = 0; i + 1 < elements.size(); i += 2)
        if (elements[i].str == f) return &elements[i + 1];
    return nullptr;
}

namespace {

// %XX escapes (a password with '@', ':' or '/' in it is written %40, %3A, %2F)
std::string percent_decoded(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

RedisUrl RedisUrl::parse(const std::string& url) {
    RedisUrl u;
    std::string rest;
    if (url.rfind("rediss://", 0) == 0)
        fail("--redis ", url.substr(0, url.find('@') == std::string::npos ? url.size() : 9),
             ": TLS (rediss://) is not available: Debian 12's hiredis 0.14 has no TLS; run stunnel (or ssh -L) to the server "
             "and give --redis redis://127.0.0.1:PORT");
    if (url.rfind("redis://", 0) == 0) rest = url.substr(8);
    else fail("--redis: \"", url, "\" is not a redis:// URL (redis://[[user]:password@]host[:port][/db])");
    if (const size_t at = rest.rfind('@'); at != std::string::npos) {
        const std::string auth = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const size_t colon = auth.find(':');
        if (colon == std::string::npos) u.password = percent_decoded(auth);
        else u.user = percent_decoded(auth.substr(0, colon)), u.password = percent_decoded(auth.substr(colon + 1));
    }
    if (const size_t slash = rest.find('/'); slash != std::string::npos) {
        const std::string db = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (!db.empty()) {
            if (db.find_first_not_of("0123456789") != std::string::npos || db.size() > 5) fail("--redis: the database \"", db, "\" is not a number");
            u.db = std::stoi(db);
        }
    }
    if (const size_t colon = rest.rfind(':'); colon != std::string::npos && rest.find(']') == std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) > 65535)
            fail("--redis: the port \"", port, "\" is not a port number");
        u.port = std::stoi(port);
        rest = rest.substr(0, colon);
    }
    if (!rest.empty()) u.host = rest;
    return u;
}

std::string RedisUrl::describe() const { return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db); }

namespace {

RedisReply convert(const redisReply* r) {
    RedisReply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::String;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Status;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Array;
            for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
            break;
        default: out.type = RedisReply::Nil; break;
    }
    return out;
}

timeval to_timeval(double s) {
    timeval tv;
    tv.tv_sec = long(s);
    tv.tv_usec = long((s - std::floor(s)) * 1e6);
    return tv;
}

}  // namespace

Redis Redis::connect(const std::string& url, double timeout_s) {
    const RedisUrl u = RedisUrl::parse(url);
    Redis r;
    r.where_ = u.describe();
    r.ctx_ = redisConnectWithTimeout(u.host.c_str(), u.port, to_timeval(timeout_s));
    if (!r.ctx_) fail(r.where_, ": cannot allocate a connection");
    if (r.ctx_->err) fail(r.where_, ": cannot connect: ", r.ctx_->errstr);
    redisSetTimeout(r.ctx_, to_timeval(timeout_s));
    if (!u.password.empty()) {
        if (u.user.empty()) r.command({"AUTH", u.password});
        else r.command({"AUTH", u.user, u.password});
    }
    if (u.db != 0) r.command({"SELECT", std::to_string(u.db)});
    return r;
}

Redis::Redis(Redis&& o) noexcept : ctx_(o.ctx_), where_(std::move(o.where_)) { o.ctx_ = nullptr; }
Redis& Redis::operator=(Redis&& o) noexcept {
    if (this != &o) {
        if (ctx_) redisFree(ctx_);
        ctx_ = o.ctx_;
        where_ = std::move(o.where_);
        o.ctx_ = nullptr;
    }
    return *this;
}
Redis::~Redis() {
    if (ctx_) redisFree(ctx_);
}

RedisReply Redis::command(const std::vector<std::string>& argv) {
    if (!ctx_) fail(where_, ": not connected");
    std::vector<const char*> args;
    std::vector<size_t> lengths;
    for (const std::string& a : argv) args.push_back(a.data()), lengths.push_back(a.size());
    auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx_, int(args.size()), args.data(), lengths.data()));
    if (!reply) fail(where_, ": ", argv.empty() ? "" : argv[0], ": ", ctx_->err ? ctx_->errstr : "no reply (connection lost)");
    std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) fail(where_, ": ", argv[0], ": ", std::string(reply->str, reply->len));
    return convert(reply);
}

}  // namespace sdref

// redis.h: a small Redis client over hiredis (Debian's libhiredis): one connection, commands as argument vectors
// (binary-safe: PNG bytes go in and out as they are), replies as plain trees. Every failure is an sdref::Error
// naming the server and the command: a refused connection, a lost one, an error reply.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

namespace sdref {

struct RedisReply {
    enum Type { String, Integer, Array, Nil, Status } type = Nil;
    std::string str;                    // String, Status
    long long integer = 0;              // Integer
    std::vector<RedisReply> elements;   // Array
    bool nil() const { return type == Nil; }
    // The field f of a flat [field, value, field, value...] array (XRANGE's entries, HGETALL), or nullptr.
    const RedisReply* field(const std::string& f) const;
};

// Where a server is: redis://[[user]:password@]host[:port][/db], the user and password %-escaped where they hold
// '@', ':' or '/'. rediss:// (TLS) is refused with the reason:
// Debian 12's hiredis (0.14) has no TLS; put stunnel or an SSH tunnel in front and name the local end.
struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user, password;
    int db = 0;
    static RedisUrl parse(const std::string& url);
    std::string describe() const;  // "redis://host:port/db" (never the password)
};

class Redis {
public:
    // Connect (AUTH and SELECT as the URL says); `timeout_s` bounds the connection and every command's reply.
    static Redis connect(const std::string& url, double timeout_s = 10);
    Redis(Redis&&) noexcept;
    Redis& operator=(Redis&&) noexcept;
    ~Redis();

    RedisReply command(const std::vector<std::string>& argv);
    const std::string& where() const { return where_; }

private:
    Redis() = default;
    redisContext* ctx_ = nullptr;
    std::string where_;
};

}  // namespace sdref

// C++ compatibility: the header compiles as C++ (-Wall -Wextra -Werror
// -pedantic), its functions have C linkage, and the blocking API works.
#include "cosocket.h"
#include "cosocket.h"

#include <cstdio>
#include <cstring>

static int n = 0, failed = 0;

static void check(bool ok, const char *what)
{
    ++n;
    std::printf("%sok %d - %s\n", ok ? "" : "not ", n, what);
    if (!ok) {
        ++failed;
    }
}

int main()
{
    cosocket_result r;
    std::memset(&r, 0, sizeof r);
    cosocket_tcp *s = cosocket_tcp_new();
    check(s != nullptr, "cosocket_tcp_new from C++");
    cosocket_status st = cosocket_tcp_settimeout(s, 100, &r);
    check(st == COSOCKET_STATUS_OK, "settimeout");
    st = cosocket_tcp_connect(s, "127.0.0.1", 9, -1, nullptr, &r);
    check(st == COSOCKET_STATUS_ERROR && r.err_len == 23 &&
              std::memcmp(r.err, "missing the port number", 23) == 0,
          "missing the port number");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    check(st == COSOCKET_STATUS_ERROR, "receive on a closed socket");
    cosocket_loop *lp = cosocket_loop_new();
    check(cosocket_loop_sleep(lp, 5, 0) == COSOCKET_STATUS_OK, "loop_sleep");
    uint64_t tok[2];
    size_t got = 0;
    st = cosocket_loop_wait(lp, tok, 2, 5000, &got);
    check(st == COSOCKET_STATUS_OK && got == 1 && tok[0] == 5, "loop_wait");
    cosocket_loop_free(lp);
    cosocket_tcp_free(s);
    std::printf("1..%d\n", n);
    return failed ? 1 : 0;
}

/*
 * The header is idempotent: included twice in one translation unit it still
 * compiles cleanly (-Wall -Wextra -Werror), and its declarations are usable.
 */
#include "cosocket.h"
#include "cosocket.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    int failed = 0;
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_result r;
    memset(&r, 0, sizeof r);
    if (s != NULL && cosocket_tcp_close(s, &r) == COSOCKET_STATUS_ERROR && r.err_len == 6 &&
        memcmp(r.err, "closed", 6) == 0) {
        printf("ok 1 - header included twice; close of a fresh socket says closed\n");
    } else {
        printf("not ok 1 - header included twice\n");
        failed = 1;
    }
    cosocket_tcp_free(s);
    if (COSOCKET_VERSION_MAJOR == 0 && strncmp(cosocket_version(), "0.", 2) == 0) {
        printf("ok 2 - version macros match cosocket_version() (%s)\n", cosocket_version());
    } else {
        printf("not ok 2 - version macros\n");
        failed = 1;
    }
    printf("1..2\n");
    return failed;
}

/* hello_c: a module in C. `insmod hello_c who=there` prints "hello_c: hello, there". */
#include <kmod.h>

MODULE_NAME("hello_c");
MODULE_VERSION("0.1.0");
MODULE_LICENSE("MIT");
MODULE_AUTHOR("The unikernel authors");
MODULE_DESCRIPTION("A module written in C");
MODULE_PARAM(who, str, "who to greet");

int init_module(void) {
    /* Parameter values are not NUL-terminated: print them with "%.*s". */
    struct kmod_str who = KMOD_STR("world");
    kmod_param(KMOD_STR("who"), &who);
    kprintf("hello_c: hello, %.*s (uptime %llu us)\n", (int)who.len, who.ptr,
            (unsigned long long)kmod_uptime_us());
    return 0;
}

void cleanup_module(void) {
    kprintf("hello_c: bye\n");
}

/* Tests: `cargo xtask test-module modules/hello_c`, or `ktest hello_c` once loaded. */
static int greeting_len(struct kmod_str who) { return (int)(sizeof("hello, ") - 1 + who.len); }

KTEST(greeting_length) {
    KASSERT_EQ(greeting_len(KMOD_STR("world")), 12);
    KASSERT_EQ(greeting_len(KMOD_STR("")), 7);
}

KTEST(param_absent_at_test_time) {
    /* Parameters are only visible during init: a test sees -2 (not given). */
    struct kmod_str who = KMOD_STR("unchanged");
    KASSERT_EQ(kmod_param(KMOD_STR("who"), &who), -2);
    KASSERT(who.len == sizeof("unchanged") - 1);
}

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

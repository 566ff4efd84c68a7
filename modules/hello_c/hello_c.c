/* hello_c: a module in C. `insmod hello_c who=there` prints "hello_c: hello, there". */
#include <kmod.h>

MODULE_NAME("hello_c");
MODULE_VERSION("0.1.0");
MODULE_LICENSE("MIT");
MODULE_AUTHOR("The unikernel authors");
MODULE_DESCRIPTION("A module written in C");
MODULE_DEPENDS("");
MODULE_PARAM(who, str, "who to greet");

int init_module(void) {
    struct kmod_str who;
    const char *name = "world";
    int len = 5;
    if (kmod_param(KMOD_STR("who"), &who) == 0) {
        name = who.ptr;
        len = (int)who.len;
    }
    /* Values are not NUL-terminated: print with a length. */
    kprintf("hello_c: hello, ");
    kmod_print(name, (size_t)len);
    kprintf(" (uptime %lu us, %d%%)\n", (unsigned long)kmod_uptime_us(), 100);
    return 0;
}

void cleanup_module(void) {
    kprintf("hello_c: bye\n");
}

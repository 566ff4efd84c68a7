/* deep_c: a C module whose command `deep_c` faults two calls deep (deep_c_cmd ->
 * deep_c_outer -> deep_c_inner), so a report shows every module frame with its line.
 * The end-to-end tests find the lines by the LINE: markers, so keep them on the
 * statements they name. */
#include <kmod.h>

MODULE_NAME("deep_c");
MODULE_VERSION("0.1.0");
MODULE_LICENSE("MIT");
MODULE_AUTHOR("The unikernel authors");
MODULE_DESCRIPTION("A C module that faults two calls deep (line-table example)");

static volatile unsigned long *volatile target; /* NULL */

static inline void deep_c_store(unsigned long v) {
    *target = v; /* LINE: deep_c_store */
}

__attribute__((noinline)) void deep_c_inner(unsigned long v) {
    kprintf("deep_c: writing %lu through NULL\n", v);
    deep_c_store(v + 1); /* LINE: deep_c_inner */
    kprintf("deep_c: still alive?!\n");
}

__attribute__((noinline)) void deep_c_outer(unsigned long v) {
    deep_c_inner(v * 2); /* LINE: deep_c_outer */
    kprintf("deep_c: back in outer\n");
}

static int deep_c_cmd(size_t argc, const struct kmod_str *argv) {
    (void)argv;
    deep_c_outer(argc); /* LINE: deep_c_cmd */
    return 0;
}

int init_module(void) {
    return kmod_register_command(KMOD_STR("deep_c"), KMOD_STR("fault two calls deep (C)"),
                                 deep_c_cmd);
}

void cleanup_module(void) {
    kmod_unregister_command(KMOD_STR("deep_c"));
}

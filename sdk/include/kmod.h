/* kmod.h - the ABI between the kernel and loadable modules (C view).
 *
 * A module is one ELF relocatable object (target/modules/NAME.ko) whose undefined symbols
 * are only these kernel exports or other modules' exports. The kernel calls
 *     int  init_module(void);      (0 = success, negative errno = refuse to load)
 *     void cleanup_module(void);   (on rmmod)
 * Metadata lives in the .modinfo section as NUL-terminated "key=value" strings; symbols
 * offered to later modules are listed, NUL-separated, in the .modexports section.
 */
#ifndef KMOD_H
#define KMOD_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

/* A byte string passed by value (two registers). */
struct kmod_str {
    const char *ptr;
    size_t len;
};

/* A shell command handler: argv[0..argc) are the arguments after the command name.
 * Returns 0, or a non-zero status the shell reports. */
typedef int (*kmod_cmd_fn)(size_t argc, const struct kmod_str *argv);

/* ---- Kernel exports ----------------------------------------------------------------
 * Every pointer a module hands the kernel is checked or copied fault-safely: a bad one
 * makes the export return -14 (EFAULT) instead of crashing the kernel. */
/* 0, -14 (unreadable bytes; those before them are written) or -22 (more than 64 KiB). */
int      kmod_print(const char *bytes, size_t len);
/* Heap blocks are recorded against the calling module and reclaimed when it unloads
 * (rmmod, a failed init, after a fault). kmod_free/kmod_realloc act only on blocks the
 * calling module allocated; any other pointer is ignored (free) or refused (NULL). */
void    *kmod_alloc(size_t size, size_t align);
void     kmod_free(void *ptr, size_t size, size_t align);
void    *kmod_realloc(void *ptr, size_t size, size_t align, size_t new_size);
uint64_t kmod_uptime_us(void);
void     kmod_delay_us(uint64_t us);
/* 0, -17 (exists), -22 (bad name, help over 256 bytes, or a handler outside the module's
 * text) or -14 (unreadable strings). */
int      kmod_register_command(struct kmod_str name, struct kmod_str help, kmod_cmd_fn handler);
/* Removes a command the calling module registered: 0, -2 (no such command), -1 (it
 * belongs to the kernel or another module, and stays) or -14 (bad pointer). */
int      kmod_unregister_command(struct kmod_str name);
/* The value given for parameter `name` at insmod time (valid during init_module).
 * Returns 0 and fills *out, -2 (ENOENT) when the parameter was not given, or -14 (EFAULT)
 * when `name` is unreadable or `out` is not memory the module may write (its data and
 * bss, its kmod_alloc blocks, the stack). */
int      kmod_param(struct kmod_str name, struct kmod_str *out);
/* Reports a failed test assertion (see KASSERT below): the file, the line, the expression,
 * and, when `has_values` is set, both values. The test then returns. */
void     kmod_test_fail(struct kmod_str file, uint32_t line, struct kmod_str expr, int64_t left, int64_t right, int has_values);
/* Raises the kernel's oops path with a message (at most 256 bytes are shown; an
 * unreadable message is reported as such). Does not return. */
void     kmod_panic(struct kmod_str message) __attribute__((noreturn));

#define KMOD_STR(s) ((struct kmod_str){ (s), sizeof(s) - 1 })

/* ---- Metadata ------------------------------------------------------------------------- */
#define KMOD_CAT2(a, b) a##b
#define KMOD_CAT(a, b) KMOD_CAT2(a, b)
#define KMOD_INFO(key, value) \
    static const char KMOD_CAT(__kmod_info_, __COUNTER__)[] \
        __attribute__((section(".modinfo"), used, aligned(1))) = key "=" value

#ifndef KMOD_ABI
#error "KMOD_ABI is set by `cargo xtask modules` (-DKMOD_ABI=\"...\")"
#endif
#ifndef KMOD_RELEASE
#error "KMOD_RELEASE is set by `cargo xtask modules`"
#endif

#define MODULE_NAME(n)        KMOD_INFO("name", n); KMOD_INFO("vermagic", KMOD_RELEASE); KMOD_INFO("abi", KMOD_ABI)
#define MODULE_VERSION(v)     KMOD_INFO("version", v)
#define MODULE_LICENSE(l)     KMOD_INFO("license", l)
#define MODULE_AUTHOR(a)      KMOD_INFO("author", a)
#define MODULE_DESCRIPTION(d) KMOD_INFO("description", d)
#define MODULE_DEPENDS(d)     KMOD_INFO("depends", d)
/* type is one of: str, u32, i32, u64, bool */
#define MODULE_PARAM(name, type, desc) KMOD_INFO("parm", #name ":" #type ":" desc)
#define EXPORT_SYMBOL(sym) \
    static const char KMOD_CAT(__kmod_export_, __COUNTER__)[] \
        __attribute__((section(".modexports"), used, aligned(1))) = #sym

/* ---- A small printf over kmod_print ----------------------------------------------------
 * Supports %d %i %u %x %X %p %s %c %% with the flags '-' (left-justify) and '0', a field
 * width and a precision (digits or '*'), and the length modifiers hh h l ll z t j.
 * "%.*s" prints a struct kmod_str: kprintf("%.*s", (int)s.len, s.ptr).
 * Formatting happens in the module; the kernel only receives bytes. */
static inline void kmod__put(char *buf, size_t *n, size_t cap, char c) {
    if (*n == cap) { kmod_print(buf, *n); *n = 0; }
    buf[(*n)++] = c;
}

static inline int kvprintf(const char *fmt, va_list ap) {
    char buf[128];
    size_t n = 0, total = 0;
#define KMOD__OUT(c) do { kmod__put(buf, &n, sizeof buf, (c)); total++; } while (0)
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') { KMOD__OUT(*p); continue; }
        p++;
        int left = 0, zero = 0, width = 0, prec = -1, lng = 0, shrt = 0;
        for (;; p++) {
            if (*p == '-') left = 1;
            else if (*p == '0') zero = 1;
            else break;
        }
        if (*p == '*') { width = va_arg(ap, int); if (width < 0) { left = 1; width = -width; } p++; }
        else while (*p >= '0' && *p <= '9') { width = width * 10 + (*p - '0'); p++; }
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') { prec = va_arg(ap, int); p++; }
            else while (*p >= '0' && *p <= '9') { prec = prec * 10 + (*p - '0'); p++; }
        }
        for (;; p++) {
            if (*p == 'l' || *p == 'z' || *p == 't' || *p == 'j') lng = 1;
            else if (*p == 'h') shrt++;
            else break;
        }
        if (!*p) break; /* a lone '%' at the end */
        char tmp[24];
        int len = 0;
        char sign = 0, prefix = 0; /* prefix: 'x' for %p's "0x" */
        unsigned long long v = 0;
        const char *s = 0;
        switch (*p) {
        case 'd': case 'i': {
            long long x = lng ? va_arg(ap, long long) : va_arg(ap, int);
            if (shrt == 1) x = (short)x; else if (shrt >= 2) x = (signed char)x;
            if (x < 0) { sign = '-'; v = (unsigned long long)(-(x + 1)) + 1; } else v = (unsigned long long)x;
            do { tmp[len++] = (char)('0' + v % 10); v /= 10; } while (v);
            break;
        }
        case 'u': case 'x': case 'X': case 'p': {
            unsigned base = (*p == 'u') ? 10 : 16;
            const char *digits = (*p == 'X') ? "0123456789ABCDEF" : "0123456789abcdef";
            if (*p == 'p') { v = (unsigned long long)(uintptr_t)va_arg(ap, void *); prefix = 'x'; }
            else {
                v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
                if (shrt == 1) v = (unsigned short)v; else if (shrt >= 2) v = (unsigned char)v;
            }
            do { tmp[len++] = digits[v % base]; v /= base; } while (v);
            break;
        }
        case 's': s = va_arg(ap, const char *); if (!s) s = "(null)"; break;
        case 'c': tmp[len++] = (char)va_arg(ap, int); break;
        case '%': tmp[len++] = '%'; break;
        default: tmp[len++] = '?'; break;
        }
        if (s) {
            int sl = 0;
            while ((prec < 0 || sl < prec) && s[sl]) sl++; /* never reads past the precision */
            if (!left) for (int i = sl; i < width; i++) KMOD__OUT(' ');
            for (int i = 0; i < sl; i++) KMOD__OUT(s[i]);
            if (left) for (int i = sl; i < width; i++) KMOD__OUT(' ');
            continue;
        }
        int body = len + (sign ? 1 : 0) + (prefix ? 2 : 0);
        if (!left && !zero) for (int i = body; i < width; i++) KMOD__OUT(' ');
        if (sign) KMOD__OUT(sign);
        if (prefix) { KMOD__OUT('0'); KMOD__OUT(prefix); }
        if (!left && zero) for (int i = body; i < width; i++) KMOD__OUT('0');
        while (len) KMOD__OUT(tmp[--len]);
        if (left) for (int i = body; i < width; i++) KMOD__OUT(' ');
    }
#undef KMOD__OUT
    if (n) kmod_print(buf, n);
    return (int)total;
}

static inline int __attribute__((format(printf, 1, 2))) kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = kvprintf(fmt, ap);
    va_end(ap);
    return r;
}

/* ---- Tests in modules -----------------------------------------------------------------
 * KTEST(name) { ... } declares a test; `cargo xtask test-module DIR` (or `ktest MODULE` in
 * the shell) runs every test of a loaded module, each under containment with a deadline,
 * and prints KTAP. KASSERT(cond) and KASSERT_EQ(a, b) fail the test with the file, the line
 * and (for KASSERT_EQ) both values, and return from it. A fault, a panic or a timeout fails
 * that test alone. */
struct kmod_test {
    struct kmod_str name;
    void (*fn)(void);
    uint32_t line;     /* where it is declared: tests run in source order */
    uint32_t reserved;
};

#define KTEST(n) \
    static void kmod__test_##n(void); \
    static const struct kmod_test kmod__test_rec_##n \
        __attribute__((section(".kmod_tests"), used, aligned(8))) = { KMOD_STR(#n), kmod__test_##n, __LINE__, 0 }; \
    static void kmod__test_##n(void)

#define KASSERT(cond) do { \
    if (!(cond)) { \
        kmod_test_fail(KMOD_STR(__FILE__), __LINE__, KMOD_STR("KASSERT(" #cond ")"), 0, 0, 0); \
        return; \
    } \
} while (0)

#define KASSERT_EQ(a, b) do { \
    int64_t kmod__l = (int64_t)(a), kmod__r = (int64_t)(b); \
    if (kmod__l != kmod__r) { \
        kmod_test_fail(KMOD_STR(__FILE__), __LINE__, KMOD_STR("KASSERT_EQ(" #a ", " #b ")"), \
                       kmod__l, kmod__r, 1); \
        return; \
    } \
} while (0)

#endif /* KMOD_H */

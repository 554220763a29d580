/*
 * malloccount.so: an LD_PRELOAD allocation counter for loadtest/callgrind.sh.
 *
 * Counts every call to malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc and
 * pvalloc (and free, separately) made by the process it is loaded into, all threads together, and
 * the bytes asked for. The counters live in a file mapped into memory, so another process can read
 * them at any moment without signalling the counted process (no signal handler, no extra thread):
 *
 *   MALLOCCOUNT_FILE=/path/counts LD_PRELOAD=./malloccount.so program ...
 *   od -An -t u8 -w8 /path/counts      # one counter per line, in the order of struct counters
 *
 * The file holds 12 little-endian uint64: allocations (all kinds together), bytes requested,
 * frees, then malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * and a magic number (0x6d63636e74000001) that says the shim is loaded and the layout is this one.
 * realloc(NULL, n) counts as an allocation (it is one); realloc(p, 0) and free(NULL) do not count
 * as frees twice. Counting costs one relaxed atomic add per call.
 *
 * The real allocator is reached through glibc's __libc_* entry points, not dlsym(), because
 * dlsym itself allocates (and would recurse into this shim before it knows where malloc is).
 *
 * Build: cc -shared -fPIC -O2 -o malloccount.so malloccount.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

struct counters {
    uint64_t allocations;
    uint64_t bytes;
    uint64_t frees;
    uint64_t malloc_calls;
    uint64_t calloc_calls;
    uint64_t realloc_calls;
    uint64_t posix_memalign_calls;
    uint64_t aligned_alloc_calls;
    uint64_t memalign_calls;
    uint64_t valloc_calls;
    uint64_t pvalloc_calls;
    uint64_t magic;
};

#define MAGIC 0x6d63636e74000001ULL

/* Until the constructor has mapped the file, counts go here (and are copied over). */
static struct counters early;
static struct counters *volatile counts = &early;

#define ADD(field, n) __atomic_fetch_add(&counts->field, (uint64_t)(n), __ATOMIC_RELAXED)

static inline void counted(size_t bytes) {
    ADD(allocations, 1);
    ADD(bytes, bytes);
}

__attribute__((constructor)) static void malloccount_init(void) {
    const char *path = getenv("MALLOCCOUNT_FILE");
    if (path == NULL || *path == '\0') return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, (off_t)sizeof(struct counters)) != 0) {
        close(fd);
        return;
    }
    void *map = mmap(NULL, sizeof(struct counters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return;
    struct counters *shared = map;
    *shared = early;   /* start-up so far (the program has run no thread of its own yet) */
    shared->magic = MAGIC;
    counts = shared;
}

void *malloc(size_t size) {
    ADD(malloc_calls, 1);
    counted(size);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    ADD(calloc_calls, 1);
    counted(count * size);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    ADD(realloc_calls, 1);
    counted(size);
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) ADD(frees, 1);
    __libc_free(pointer);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    ADD(posix_memalign_calls, 1);
    counted(size);
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *out = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    ADD(aligned_alloc_calls, 1);
    counted(size);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    ADD(memalign_calls, 1);
    counted(size);
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    ADD(valloc_calls, 1);
    counted(size);
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    ADD(pvalloc_calls, 1);
    counted(size);
    return __libc_pvalloc(size);
}

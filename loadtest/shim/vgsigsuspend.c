/*
 * vgsigsuspend.so: an LD_PRELOAD shim that lets Gatehouse run under valgrind 3.19
 * (loadtest/callgrind.sh).
 *
 * libdispatch (linked by the Swift runtime) parks a thread in sigsuspend() with a signal mask that
 * lives in read-only memory. The kernel only reads that mask, but valgrind's wrapper for
 * rt_sigsuspend writes to it (it adjusts the mask in place), so the thread faults under valgrind.
 * This shim hands the kernel a writable copy of the mask instead; outside valgrind the behaviour is
 * the same as glibc's sigsuspend (minus being a cancellation point, which nothing here relies on).
 *
 * Build: cc -shared -fPIC -O2 -o vgsigsuspend.so vgsigsuspend.c
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)(_NSIG / 8));
}

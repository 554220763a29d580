/*
 * vgsigsuspend.so: an LD_PRELOAD shim that lets Gatehouse run under valgrind 3.19
 * (loadtest/callgrind.sh).
 *
 * libdispatch (linked by the Swift runtime) parks the main thread of an async Swift program in
 * sigsuspend() (_dispatch_sig_thread) with a signal mask in read-only memory. The kernel only reads
 * that mask, but valgrind's handling of rt_sigsuspend writes to it, and valgrind 3.19 dies
 * ("VALGRIND INTERNAL ERROR: Valgrind received a signal 11 (SIGSEGV)", thread in syscall 130).
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

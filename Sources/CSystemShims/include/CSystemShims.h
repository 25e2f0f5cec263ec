#ifndef C_SYSTEM_SHIMS_H
#define C_SYSTEM_SHIMS_H

// The operating system as Swift's Glibc module leaves it out, for DirectordSystem (processes)
// and the check loop (epoll, pidfd), the allocator and thread priorities. Only what Swift
// cannot import by itself.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <spawn.h>

// WIFEXITED and friends are function-like macros.
static inline int CSystem_WIFEXITED(int status) { return WIFEXITED(status); }
static inline int CSystem_WEXITSTATUS(int status) { return WEXITSTATUS(status); }
static inline int CSystem_WIFSIGNALED(int status) { return WIFSIGNALED(status); }
static inline int CSystem_WTERMSIG(int status) { return WTERMSIG(status); }

// siginfo_t's si_pid is a member of a union of unions: the pid of a child that has exited and
// waits to be reaped, left as it is (WNOWAIT), or 0 when there is none.
static inline int CSystem_exited_child(void) {
    siginfo_t info;
    info.si_pid = 0;
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return 0;
    return info.si_pid;
}

// The allocator, from malloc.h, and the thread's nice value, which needs gettid: defined in
// shims.c, so that this header includes nothing beyond what Swift's Glibc module has (a header
// included here first makes its declarations this module's, hidden from modules that import
// only Glibc).
// mallopt(M_ARENA_MAX, arenas).
int CSystem_set_arena_max(int arenas);
// malloc_trim(0): gives the pages of freed memory back to the kernel.
int CSystem_malloc_trim(void);
// The calling thread's nice value (Linux schedules threads, not processes, by it), set to
// `nice` when that is lower; returns the one it had, or INT32_MIN when the kernel refuses
// (lowering it needs CAP_SYS_NICE).
int CSystem_lower_thread_nice(int nice);
// Gives the calling thread a nice value (raising it needs no privilege).
int CSystem_set_thread_nice(int nice);

// Declared by glibc only under _GNU_SOURCE / __USE_MISC, which Swift's Glibc module lacks.
int CSystem_pipe2(int fds[2], int flags);
int CSystem_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

// SO_PEERCRED's struct ucred is declared only under _GNU_SOURCE: the user id of the process at
// the other end of a Unix socket, or -1.
long CSystem_peer_uid(int fd);

// prctl is variadic: PR_SET_CHILD_SUBREAPER, so that a check's processes that escape their
// process group (setsid) are re-parented to the daemon, which can end them.
int CSystem_set_child_subreaper(void);

// Names the calling thread (at most 15 bytes), as `top -H` and debuggers show it.
int CSystem_set_thread_name(const char *name);

// `environ` is a mutable C global, which Swift 6 refuses to read; spawned children inherit it.
static inline char *const *CSystem_environ(void) {
    extern char **environ;
    return environ;
}

#endif

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "CSystemShims.h"

int CSystem_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int CSystem_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int CSystem_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

long CSystem_peer_uid(int fd) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    return (long)credentials.uid;
}

int CSystem_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int CSystem_set_arena_max(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}

int CSystem_malloc_trim(void) {
    return malloc_trim(0);
}

int CSystem_lower_thread_nice(int nice) {
    id_t thread = (id_t)gettid();
    errno = 0;
    int before = getpriority(PRIO_PROCESS, thread);
    if (before == -1 && errno != 0) return -2147483647 - 1;
    if (before > nice && setpriority(PRIO_PROCESS, thread, nice) != 0) return -2147483647 - 1;
    return before;
}

int CSystem_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

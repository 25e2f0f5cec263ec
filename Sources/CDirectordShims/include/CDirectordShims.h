#ifndef C_DIRECTORD_SHIMS_H
#define C_DIRECTORD_SHIMS_H

// Only what Swift cannot import by itself.
//
// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic, and Swift cannot call
// C variadic functions: one typed wrapper per argument kind. Glibc's module map does not export
// <sys/epoll.h> or <sys/pidfd.h>, so they are included here for the check loop's poller and
// for noticing the exit of external check commands.

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <spawn.h>

CURLcode CDirectord_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CDirectord_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CDirectord_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CDirectord_curl_easy_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback);

CURLcode CDirectord_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode CDirectord_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);
CURLcode CDirectord_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);

CURLMcode CDirectord_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
CURLMcode CDirectord_curl_multi_setopt_pointer(CURLM *multi, CURLMoption option, void *value);
CURLMcode CDirectord_curl_multi_setopt_socket_function(CURLM *multi, curl_socket_callback callback);
CURLMcode CDirectord_curl_multi_setopt_timer_function(CURLM *multi, curl_multi_timer_callback callback);

// WIFEXITED and friends are function-like macros.
static inline int CDirectord_WIFEXITED(int status) { return WIFEXITED(status); }
static inline int CDirectord_WEXITSTATUS(int status) { return WEXITSTATUS(status); }
static inline int CDirectord_WIFSIGNALED(int status) { return WIFSIGNALED(status); }
static inline int CDirectord_WTERMSIG(int status) { return WTERMSIG(status); }

// Declared by glibc only under _GNU_SOURCE / __USE_MISC, which Swift's Glibc module lacks.
int CDirectord_pipe2(int fds[2], int flags);
int CDirectord_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

// prctl is variadic: PR_SET_CHILD_SUBREAPER, so that a check's processes that escape their
// process group (setsid) are re-parented to the daemon, which can end them.
int CDirectord_set_child_subreaper(void);

// `environ` is a mutable C global, which Swift 6 refuses to read; spawned checks inherit it.
static inline char *const *CDirectord_environ(void) {
    extern char **environ;
    return environ;
}

#endif

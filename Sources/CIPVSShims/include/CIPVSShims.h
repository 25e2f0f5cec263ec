#ifndef CIPVS_SHIMS_H
#define CIPVS_SHIMS_H

#include <stddef.h>

// Why this exists: setns(2), CLONE_NEWNET, recvmmsg(2) and struct mmsghdr are GNU extensions
// that Swift's Glibc module does not import (it is built without _GNU_SOURCE). These wrappers
// are compiled with _GNU_SOURCE and expose only plain C types.

/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace of `fd`.
/// Returns 0, or -1 with errno set.
int CIPVSShims_setns_net(int fd);

/// recvmmsg(fd, ..., MSG_WAITFORONE (| MSG_DONTWAIT if !wait), NULL) into `slots` slots of
/// `slot_size` bytes laid out back to back in `buffer`: blocks for the first datagram (unless
/// `wait` is 0), then takes whatever else is queued, up to `slots`. For each datagram received,
/// `lengths[i]` is its length and `truncated[i]` is nonzero if it did not fit its slot.
/// Returns the number of datagrams, or -1 with errno set.
int CIPVSShims_recv_datagrams(int fd, unsigned char *buffer, size_t slot_size, unsigned int slots, int wait,
                              size_t *lengths, int *truncated);

#endif

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "CIPVSShims.h"

int CIPVSShims_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

int CIPVSShims_recv_datagrams(int fd, unsigned char *buffer, size_t slot_size, unsigned int slots, int wait,
                              size_t *lengths, int *truncated) {
    if (slots == 0) return 0;
    struct mmsghdr *messages = calloc(slots, sizeof(struct mmsghdr));
    struct iovec *vectors = calloc(slots, sizeof(struct iovec));
    if (messages == NULL || vectors == NULL) {
        free(messages);
        free(vectors);
        errno = ENOMEM;
        return -1;
    }
    for (unsigned int i = 0; i < slots; i++) {
        vectors[i].iov_base = buffer + (size_t)i * slot_size;
        vectors[i].iov_len = slot_size;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    int flags = MSG_WAITFORONE | (wait ? 0 : MSG_DONTWAIT);
    int received;
    do {
        received = recvmmsg(fd, messages, slots, flags, NULL);
    } while (received < 0 && errno == EINTR);
    for (int i = 0; i < received; i++) {
        lengths[i] = messages[i].msg_len;
        truncated[i] = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    }
    int saved = errno;
    free(messages);
    free(vectors);
    errno = saved;
    return received;
}

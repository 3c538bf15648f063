/* The warm box's pid 1, in C: the same helper as HELPER in warm.py (which stays the fallback when
 * this is not built), with the same protocol and the same guarantees, at a fraction of the cost per
 * command (no interpreter between a request and its spawn, or between the exit and the reply).
 *
 * Built by `make setup` into build/warm-helper; warm.py copies it into each box read-only
 * (bubblewrap --ro-bind-data, at HELPER_PATH in the box's own /etc) and runs it as
 * `warm-helper <socket fd>`. Protocol on the socket (SOCK_SEQPACKET, one message each):
 *   host -> helper: "<script>\0<command>" with fds [stdin, stdout]; or "K" (kill the command).
 *   helper -> host: "R" (ready, once), then per command "S" (started) and "X<exit code>".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define REQUEST_MAX (1 << 18) /* what the host sends: a script and a command under MAX_ARG_STRLEN */
#define SHM_DEPTH 64          /* deeper in /dev/shm than this, the box is ended instead (below) */

extern char **environ;
static char request[REQUEST_MAX + 1];

/* Every process of the box's pid namespace but this one (pid 1 is spared by kill(-1)). */
static void kill_all(void) { kill(-1, SIGKILL); }

/* Everything else was killed and is (or becomes) our child: wait for all of it. */
static void reap(void) {
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
    }
}

static void send_reply(int sock, const char *reply, size_t size) {
    while (send(sock, reply, size, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

/* Remove everything in the directory `fd` (closed here), following no symlink; 0 when something stays. */
static int empty_dir(int fd, int depth) {
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return 0;
    }
    int emptied = 1;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        if (unlinkat(fd, name, 0) == 0 || errno == ENOENT) continue;
        if (errno != EISDIR) {
            emptied = 0;
            continue;
        }
        int sub = depth < SHM_DEPTH ? openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        if (sub < 0 || !empty_dir(sub, depth + 1) || unlinkat(fd, name, AT_REMOVEDIR) != 0) emptied = 0;
    }
    closedir(dir);
    return emptied;
}

/* One request: its size (0: the host is gone), fds in `fds` (`*count` of them); -1 when malformed. */
static ssize_t receive(int sock, int fds[2], int *count) {
    struct iovec iov = {.iov_base = request, .iov_len = REQUEST_MAX};
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(2 * sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    ssize_t size;
    do {
        size = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); /* only the dup2 copies reach the command */
    } while (size < 0 && errno == EINTR);
    *count = 0;
    if (size <= 0) return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*count < 2) {
                fds[(*count)++] = fd;
            } else {
                close(fd);
            }
        }
    }
    return (msg.msg_flags & MSG_TRUNC) ? -1 : size;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int sock = atoi(argv[1]);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* no ptrace, no /proc/1/mem or fd from commands */
    /* nothing this process holds reaches a command but what each request dups to 0, 1 and 2 */
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    send_reply(sock, "R", 1);
    for (;;) {
        int fds[2];
        int count;
        ssize_t size = receive(sock, fds, &count);
        if (size == 0) break;
        if (size < 0 || count != 2 || (size == 1 && request[0] == 'K')) {
            for (int i = 0; i < count; i++) close(fds[i]);
            if (size < 0) break; /* the host never sends one: as the Python helper, give up the box */
            continue;
        }
        request[size] = '\0';
        char *split = memchr(request, '\0', (size_t)size);
        if (split == NULL) break;
        char *args[] = {"/bin/sh", "-c", request, "sandbox", split + 1, NULL};
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID); /* a session and process group of its own */
        send_reply(sock, "S", 1); /* before the spawn: "S" means the command may have run, so never twice */
        pid_t pid;
        int failed = posix_spawn(&pid, "/bin/sh", &actions, &attr, args, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        close(fds[0]);
        close(fds[1]);
        if (failed) break;
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) break;
        struct pollfd watched[2] = {{.fd = sock, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int gone = 0;
        for (;;) {
            if (poll(watched, 2, -1) < 0) {
                if (errno == EINTR) continue;
                kill_all();
                break;
            }
            if (watched[1].revents) break;
            if (watched[0].revents) { /* "K", or the host is gone: the command dies */
                char message[64];
                ssize_t got = recv(sock, message, sizeof message, MSG_DONTWAIT);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                    gone = 1;
                    watched[0].fd = -1;
                }
                kill_all();
            }
        }
        close(pidfd);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        kill_all(); /* what the command left behind dies with it */
        reap();
        if (gone) break;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
        char reply[16];
        int length = snprintf(reply, sizeof reply, "X%d", code);
        send_reply(sock, reply, (size_t)length);
        /* After the reply (nothing of the box runs now); the next request waits until it is done.
           What cannot be removed ends the box: the next command runs cold, a new init starts empty. */
        int shm = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (shm < 0 || !empty_dir(shm, 0)) break;
    }
    kill_all();
    return 0;
}

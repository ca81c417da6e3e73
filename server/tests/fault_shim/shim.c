/*
 * Fault injection for Sluice's tests: an LD_PRELOAD library that makes the file operations of
 * the server under test fail on demand. Test-only; never linked into Sluice.
 *
 * Environment (read once):
 *   SLUICE_FAULT_DIR  only files whose path starts with this prefix are affected (the data dir)
 *   SLUICE_FAULT_CTL  a control file the test writes; re-read on every intercepted call:
 *     (empty/missing)  no fault
 *     fsync-eio        fsync/fdatasync fail with EIO
 *     write-eio        write/pwrite/writev/pwritev fail with EIO
 *     write-enospc     those writes fail with ENOSPC (a full disk)
 *     table-write-enospc  like write-enospc, but only for files other than journals (*.jnl):
 *                      a memtable flush or compaction that finds the disk full
 *     table-write-eio  the same with EIO: a flush or compaction that fails on a bad disk
 *     write-torn       the next write of 2+ bytes to a journal file (*.jnl) writes half of its
 *                      bytes, then the process kills itself with SIGKILL (a crash mid-write)
 *     new-journal-enospc  sizing a journal file (ftruncate, which fjall does once, when it
 *                      creates one) fails with ENOSPC: no room for the next journal
 *     fsync-hold       fsync/fdatasync wait, before syncing, until the control file says
 *                      something else; while one waits, the file `<SLUICE_FAULT_CTL>.held`
 *                      exists (a disk that takes its time, for tests of what waits on a sync)
 *
 * Only regular files under the data directory are affected: sockets, pipes and stderr never.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum mode { NONE, FSYNC_EIO, FSYNC_HOLD, WRITE_EIO, WRITE_ENOSPC, TABLE_WRITE_ENOSPC, TABLE_WRITE_EIO, WRITE_TORN, NEW_JOURNAL_ENOSPC };

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);

static void init(void) {
    if (real_write) return;
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
}

static enum mode current_mode(void) {
    const char *ctl = getenv("SLUICE_FAULT_CTL");
    if (!ctl) return NONE;
    int fd = open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NONE;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return NONE;
    buf[n] = 0;
    if (!strncmp(buf, "fsync-eio", 9)) return FSYNC_EIO;
    if (!strncmp(buf, "fsync-hold", 10)) return FSYNC_HOLD;
    if (!strncmp(buf, "write-eio", 9)) return WRITE_EIO;
    if (!strncmp(buf, "write-enospc", 12)) return WRITE_ENOSPC;
    if (!strncmp(buf, "write-torn", 10)) return WRITE_TORN;
    if (!strncmp(buf, "table-write-enospc", 18)) return TABLE_WRITE_ENOSPC;
    if (!strncmp(buf, "table-write-eio", 15)) return TABLE_WRITE_EIO;
    if (!strncmp(buf, "new-journal-enospc", 18)) return NEW_JOURNAL_ENOSPC;
    return NONE;
}

/* 1 if fd is a regular file under SLUICE_FAULT_DIR; its path in `path`. */
static int targeted(int fd, char *path, size_t len) {
    const char *dir = getenv("SLUICE_FAULT_DIR");
    if (!dir || !*dir) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, len - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return strncmp(path, dir, strlen(dir)) == 0;
}

static int is_journal(const char *path) {
    size_t n = strlen(path);
    return n > 4 && !strcmp(path + n - 4, ".jnl");
}

/* For a write of `count` bytes to fd: -1 with errno set to fail it; 0 to let it through;
 * otherwise the number of bytes to write before dying (torn write). */
static ssize_t write_fault(int fd, size_t count) {
    enum mode m = current_mode();
    if (m == NONE || m == FSYNC_EIO || m == FSYNC_HOLD || m == NEW_JOURNAL_ENOSPC) return 0;
    char path[4096];
    if (!targeted(fd, path, sizeof path)) return 0;
    if (m == TABLE_WRITE_ENOSPC || m == TABLE_WRITE_EIO) {
        if (is_journal(path)) return 0;
        errno = m == TABLE_WRITE_EIO ? EIO : ENOSPC;
        return -1;
    }
    if (m == WRITE_EIO) { errno = EIO; return -1; }
    if (m == WRITE_ENOSPC) { errno = ENOSPC; return -1; }
    if (count >= 2 && is_journal(path)) return (ssize_t)(count / 2);
    return 0;
}

static void die(void) { kill(getpid(), SIGKILL); for (;;) pause(); }

ssize_t write(int fd, const void *buf, size_t count) {
    init();
    ssize_t f = write_fault(fd, count);
    if (f < 0) return -1;
    if (f > 0) { real_write(fd, buf, (size_t)f); die(); }
    return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) {
    init();
    ssize_t f = write_fault(fd, count);
    if (f < 0) return -1;
    if (f > 0) { real_pwrite(fd, buf, (size_t)f, off); die(); }
    return real_pwrite(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off) {
    init();
    ssize_t f = write_fault(fd, count);
    if (f < 0) return -1;
    if (f > 0) { real_pwrite64(fd, buf, (size_t)f, off); die(); }
    return real_pwrite64(fd, buf, count, off);
}

static size_t iov_len(const struct iovec *iov, int n) {
    size_t t = 0;
    for (int i = 0; i < n; i++) t += iov[i].iov_len;
    return t;
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    init();
    ssize_t f = write_fault(fd, iov_len(iov, n));
    if (f < 0) return -1;
    if (f > 0 && n > 0) { real_write(fd, iov[0].iov_base, iov[0].iov_len / 2); die(); }
    return real_writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off) {
    init();
    ssize_t f = write_fault(fd, iov_len(iov, n));
    if (f < 0) return -1;
    if (f > 0 && n > 0) { real_pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off); die(); }
    return real_pwritev(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off) {
    init();
    ssize_t f = write_fault(fd, iov_len(iov, n));
    if (f < 0) return -1;
    if (f > 0 && n > 0) { real_pwrite64(fd, iov[0].iov_base, iov[0].iov_len / 2, off); die(); }
    return real_pwritev64(fd, iov, n, off);
}

static void hold(void) {
    const char *ctl = getenv("SLUICE_FAULT_CTL");
    char marker[4096];
    snprintf(marker, sizeof marker, "%s.held", ctl);
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    while (current_mode() == FSYNC_HOLD) usleep(1000);
    unlink(marker);
}

static int sync_fault(int fd) {
    enum mode m = current_mode();
    if (m != FSYNC_EIO && m != FSYNC_HOLD) return 0;
    char path[4096];
    if (!targeted(fd, path, sizeof path)) return 0;
    if (m == FSYNC_HOLD) { hold(); return 0; }
    errno = EIO;
    return -1;
}

int fsync(int fd) {
    init();
    if (sync_fault(fd)) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    init();
    if (sync_fault(fd)) return -1;
    return real_fdatasync(fd);
}

/* Sizing a journal file: fjall does it once, right after creating one. */
static int truncate_fault(int fd) {
    if (current_mode() != NEW_JOURNAL_ENOSPC) return 0;
    char path[4096];
    if (!targeted(fd, path, sizeof path) || !is_journal(path)) return 0;
    errno = ENOSPC;
    return -1;
}

int ftruncate(int fd, off_t length) {
    init();
    if (truncate_fault(fd)) return -1;
    return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off_t length) {
    init();
    if (truncate_fault(fd)) return -1;
    return real_ftruncate64(fd, length);
}

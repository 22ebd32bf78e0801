/* A power cut simulator for tests/test_power_cut.py, loaded with LD_PRELOAD.
 *
 * Model: "everything not fsynced is lost". fsync and fdatasync are passed to the real
 * functions; then, when the descriptor names a regular file inside $POWERCUT_DIR, the
 * file's whole current content is copied to $POWERCUT_SHADOW under the same relative name,
 * atomically (written to a temporary file, then renamed). The shadow directory therefore holds
 * what the disk would hold if the power failed now and the page cache was lost: each file as of
 * its last fsync, and no file that was never fsynced.
 *
 * Names follow POSIX's worst case too: a removal is durable only once the directory is fsynced.
 * An fsync of $POWERCUT_DIR itself makes its current entries durable: a shadow file whose name
 * is gone from the directory is removed, and a name the shadow lacks appears empty (its data
 * was never synced). This matters: SQLite unlinks the rollback journal of its first transaction
 * (the switch to WAL) without syncing the directory, and syncs the directory only when it
 * first syncs the new WAL file. A stale journal in the shadow would roll the switch back (and
 * SQLite would then discard the WAL of the now empty database).
 *
 * sync_file_range is not intercepted: it syncs neither metadata nor the whole file, so under
 * this worst-case model it makes nothing durable (SQLite does not call it).
 *
 * Each fsync appends one line to $POWERCUT_SHADOW/.fsync.log, the file's name or "./" for the
 * directory, so a test can see when and what was synced.
 *
 * The content is read with pread on the same descriptor (opening and closing another
 * descriptor of the file would drop the process's POSIX locks, which SQLite relies on); only a
 * write-only descriptor is read through a second one. Any failure ends the process (exit 97):
 * a shadow that silently missed a sync would make the test meaningless.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static void die(const char *what, const char *path) {
    /* A shadow that silently misses a sync would make the test meaningless: stop loudly. */
    fprintf(stderr, "powercut.so: %s %s: %s\n", what, path, strerror(errno));
    _exit(97);
}

static void log_sync(const char *shadow, const char *name) {
    char logp[PATH_MAX];
    snprintf(logp, sizeof logp, "%s/.fsync.log", shadow);
    int lg = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lg < 0) die("cannot open", logp);
    char line[PATH_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", name);
    write_all(lg, line, (size_t)n);
    close(lg);
}

/* The directory was fsynced: its entries as they are now become durable. */
static void shadow_dir(const char *dir, const char *shadow) {
    char p[PATH_MAX];
    struct stat st;
    DIR *d = opendir(shadow);
    if (!d) die("cannot list", shadow);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., the log and temporary files */
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0 && errno == ENOENT) {
            snprintf(p, sizeof p, "%s/%s", shadow, e->d_name);
            if (unlink(p) != 0) die("cannot remove", p);
        }
    }
    closedir(d);
    d = opendir(dir);
    if (!d) die("cannot list", dir);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        snprintf(p, sizeof p, "%s/%s", shadow, e->d_name);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
        else if (errno != EEXIST) die("cannot create", p);
    }
    closedir(d);
    log_sync(shadow, "./");
}

static void shadow_copy(int fd) {
    const char *dir_env = getenv("POWERCUT_DIR");
    const char *shadow = getenv("POWERCUT_SHADOW");
    if (!dir_env || !shadow || !*dir_env || !*shadow) return;
    char dir[PATH_MAX];
    if (!realpath(dir_env, dir)) return;

    struct stat st;
    if (fstat(fd, &st) != 0) return;

    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len < 0) return;
    path[len] = '\0';

    if (S_ISDIR(st.st_mode)) {
        if (strcmp(path, dir) == 0) {
            pthread_mutex_lock(&lock);
            shadow_dir(dir, shadow);
            pthread_mutex_unlock(&lock);
        }
        return;
    }
    if (!S_ISREG(st.st_mode)) return;
    size_t dlen = strlen(dir);
    if (strncmp(path, dir, dlen) != 0 || path[dlen] != '/') return;
    const char *rel = path + dlen + 1;
    if (strchr(rel, '/')) return; /* only files directly in the directory */

    char dst[PATH_MAX], tmp[PATH_MAX];
    snprintf(dst, sizeof dst, "%s/%s", shadow, rel);
    snprintf(tmp, sizeof tmp, "%s/.%s.powercut-tmp", shadow, rel);

    pthread_mutex_lock(&lock);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) die("cannot create", tmp);
    static char buf[1 << 16];
    off_t off = 0;
    int in = fd, own = -1;
    for (;;) {
        ssize_t r = pread(in, buf, sizeof buf, off);
        if (r < 0 && errno == EBADF && own < 0) {
            /* A write-only descriptor (SQLite never opens one): read through another one. */
            if ((own = open(link, O_RDONLY | O_CLOEXEC)) < 0) die("cannot open", path);
            in = own;
            continue;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            die("cannot read", path);
        }
        if (r == 0) break;
        if (write_all(out, buf, (size_t)r) != 0) die("cannot write", tmp);
        off += r;
    }
    if (own >= 0) close(own);
    if (close(out) != 0) die("cannot close", tmp);
    if (rename(tmp, dst) != 0) die("cannot rename to", dst);
    log_sync(shadow, rel);
    pthread_mutex_unlock(&lock);
}

/* After a successful sync of fd, the shadow takes the file's content (errno kept). */
static int synced(int rc, int fd) {
    if (rc == 0) {
        int saved = errno;
        shadow_copy(fd);
        errno = saved;
    }
    return rc;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return synced(real(fd), fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return synced(real(fd), fd);
}

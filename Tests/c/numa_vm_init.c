/* /init for the two-node QEMU guest (scripts/numa_vm.sh). Built static. Mounts /proc, /sys and /dev
 * BEFORE the test starts (libnuma reads /sys in a library constructor), runs the command stored in
 * /numa-vm-cmd (one argument per line, written by the script), prints `numa-vm: exit N` on the serial
 * console, then powers the machine off. Never returns: if /init exits the kernel panics. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void power_off(void) {
    fflush(NULL);
    sync();
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

static void mnt(const char *src, const char *dst, const char *type) {
    mkdir(dst, 0755);
    if (mount(src, dst, type, 0, NULL) != 0 && errno != EBUSY)
        printf("numa-vm: mount %s on %s failed: %s\n", type, dst, strerror(errno));
}

int main(void) {
    mnt("proc", "/proc", "proc");
    mnt("sysfs", "/sys", "sysfs");
    mnt("devtmpfs", "/dev", "devtmpfs");
    mkdir("/tmp", 01777);

    /* Console: the kernel hands /init fds 0-2 on /dev/console when it exists in the initramfs;
     * reopen it to be safe. */
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0); dup2(fd, 1); dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    static char buf[16384];
    char *argv[256];
    int argc = 0;
    FILE *f = fopen("/numa-vm-cmd", "r");
    if (!f) { printf("numa-vm: no /numa-vm-cmd\nnuma-vm: exit 127\n"); power_off(); }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (char *line = buf, *next; line && *line && argc < 255; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        argv[argc++] = line;
    }
    argv[argc] = NULL;
    if (argc == 0) { printf("numa-vm: empty command\nnuma-vm: exit 127\n"); power_off(); }

    setenv("PATH", "/bin:/usr/bin", 1);
    setenv("LD_LIBRARY_PATH", "/lib:/usr/lib", 1);
    setenv("HOME", "/", 1);
    /* Environment passed by the script, KEY=VALUE per line. */
    f = fopen("/numa-vm-env", "r");
    if (f) {
        static char env[8192];
        size_t m = fread(env, 1, sizeof env - 1, f);
        fclose(f);
        env[m] = 0;
        for (char *line = env, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = 0;
            if (strchr(line, '=')) putenv(line);
        }
    }

    printf("numa-vm: running %s\n", argv[0]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        printf("numa-vm: exec %s failed: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0, code = 127;
    if (pid > 0) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (WIFEXITED(status)) code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) { printf("numa-vm: killed by signal %d\n", WTERMSIG(status)); code = 128 + WTERMSIG(status); }
    } else {
        printf("numa-vm: fork failed: %s\n", strerror(errno));
    }
    printf("numa-vm: exit %d\n", code);
    power_off();
}

/*
 * zanshin-init: the first process of every Zanshin container (/.zanshin/init -- PROGRAM ARGS...).
 *
 * CRIU cannot dump a process whose stdio is a host file or pipe, so a container's own stdio is /dev/null. This init
 * gives the program a stdout and stderr that can move with it: files inside the container's rootfs
 * (/.zanshin/stdout.log, /.zanshin/stderr.log), which CRIU dumps like any other open file and the rootfs sync
 * carries to the next PC. When the program ends, its exit status goes to /.zanshin/exit ("exit N" or "signal N")
 * so the PC can report how it ended, and init exits the same way.
 *
 * Logs are capped: past LOG_CAP bytes a log is truncated to its last half, so a chatty program cannot fill a disk.
 *
 * Transparent huge pages are turned off for the container (PR_SET_THP_DISABLE, inherited by every process it
 * starts and kept by CRIU across a restore): with kernel dirty tracking, one dirtied 4-KiB page of a huge page marks
 * all 2 MiB of it dirty, and differential checkpoints would carry 512 times too much. The PC's own programs keep THP.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_CAP (8L << 20)

static pid_t child;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

static int open_log(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > LOG_CAP) {
    /* Keep the newer half: read it, truncate, write it back. */
    int in = open(path, O_RDONLY | O_CLOEXEC);
    static char buf[1 << 16];
    char tmp[] = "/.zanshin/.log-XXXXXX";
    int out = mkstemp(tmp);
    if (in >= 0 && out >= 0 && lseek(in, st.st_size - LOG_CAP / 2, SEEK_SET) >= 0) {
      ssize_t n;
      while ((n = read(in, buf, sizeof buf)) > 0) (void)!write(out, buf, (size_t)n);
      rename(tmp, path);
      close(fd);
      fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    } else if (out >= 0) {
      unlink(tmp);
    }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
  }
  return fd;
}

static void write_exit(const char *what, int n) {
  char line[64];
  int len = snprintf(line, sizeof line, "%s %d\n", what, n);
  int fd = open("/.zanshin/exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, line, (size_t)len);
  fsync(fd);
  close(fd);
  rename("/.zanshin/exit.tmp", "/.zanshin/exit");
}

int main(int argc, char **argv) {
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "--") == 0) first = 2;
  if (first >= argc) {
    fprintf(stderr, "usage: %s -- PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) perror("zanshin-init: PR_SET_THP_DISABLE");
  mkdir("/.zanshin", 0755);
  unlink("/.zanshin/exit");
  int out = open_log("/.zanshin/stdout.log");
  int err = open_log("/.zanshin/stderr.log");
  child = fork();
  if (child < 0) return 127;
  if (child == 0) {
    if (out >= 0) dup2(out, 1);
    if (err >= 0) dup2(err, 2);
    execvp(argv[first], argv + first);
    fprintf(stderr, "zanshin-init: cannot run %s: %s\n", argv[first], strerror(errno));
    _exit(127);
  }
  if (out >= 0) close(out);
  if (err >= 0) close(err);
  for (int sig = 1; sig < 32; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) continue;
    signal(sig, forward);
  }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return 127;
    }
    if (pid != child) continue; /* a reparented orphan: reaped, as an init must */
    if (WIFEXITED(status)) {
      write_exit("exit", WEXITSTATUS(status));
      return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
      write_exit("signal", WTERMSIG(status));
      return 128 + WTERMSIG(status);
    }
  }
}

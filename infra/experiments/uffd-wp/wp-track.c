// Issue 29, item 4: kernel write-tracking without soft-dirty, from outside a running program.
//
// Puts a running process's writable memory under userfaultfd write-protection in async mode (the kernel marks a
// written page instead of blocking the writer), then reports, every interval, how many pages were written since
// the last look (PAGEMAP_SCAN on /proc/PID/pagemap, which also protects them again). The registration has to be made
// by a task of the tracked process (userfaultfd() binds the caller's mm), so this injects the calls with ptrace:
//   userfaultfd(), UFFDIO_API (WP_ASYNC | WP_UNPOPULATED), UFFDIO_REGISTER (mode WP) per writable mapping,
// takes the uffd over with pidfd_getfd() and closes it in the process again: the process holds no userfaultfd
// (CRIU refuses to dump one that does), the registration lives as long as this tracker keeps its copy.
//
//   wp-track PID [interval-ms] [rounds] [--write-list FILE]
// prints one line per round: pages written, scan time; with --write-list, the last round's written ranges.
// Build: cc -O2 -Wall -o wp-track wp-track.c   (Debian bookworm's headers predate Linux 6.7: the UAPI is below)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

// Linux >= 6.7 UAPI that bookworm's headers lack.
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
struct page_region {
  uint64_t start, end, categories;
};
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
      category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WRITTEN (1 << 1)
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static pid_t pid;

static void die(const char *what) {
  fprintf(stderr, "wp-track: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Copies len bytes (a multiple of 8) into the stopped process at addr.
static void poke(uint64_t addr, const void *data, size_t len) {
  const uint64_t *w = data;
  for (size_t i = 0; i < len / 8; i++)
    if (ptrace(PTRACE_POKEDATA, pid, addr + 8 * i, w[i]) < 0) die("PTRACE_POKEDATA");
}

static void peek(uint64_t addr, void *data, size_t len) {
  uint64_t *w = data;
  for (size_t i = 0; i < len / 8; i++) {
    errno = 0;
    long v = ptrace(PTRACE_PEEKDATA, pid, addr + 8 * i, 0);
    if (errno) die("PTRACE_PEEKDATA");
    w[i] = (uint64_t)v;
  }
}

static struct user_regs_struct saved;
static uint64_t code; // where `syscall; int3` was written over the process's text (restored at the end)
static uint64_t code_orig;

// Runs one system call in the stopped process and returns its result.
static long inject(long nr, long a1, long a2, long a3) {
  struct user_regs_struct r = saved;
  r.rax = nr;
  r.rdi = a1;
  r.rsi = a2;
  r.rdx = a3;
  r.rip = code;
  r.orig_rax = -1; // no syscall restart on the way out of this stop: it would rewind our rip
  if (ptrace(PTRACE_SETREGS, pid, 0, &r) < 0) die("PTRACE_SETREGS");
  if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) die("PTRACE_CONT");
  int status;
  if (waitpid(pid, &status, __WALL) < 0) die("waitpid");
  if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
    fprintf(stderr, "wp-track: injected call %ld stopped with status %#x\n", nr, status);
    exit(1);
  }
  if (ptrace(PTRACE_GETREGS, pid, 0, &r) < 0) die("PTRACE_GETREGS");
  return (long)r.rax;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: wp-track PID [interval-ms] [rounds] [--write-list FILE]\n");
    return 2;
  }
  pid = atoi(argv[1]);
  int interval = argc > 2 ? atoi(argv[2]) : 1000, rounds = argc > 3 ? atoi(argv[3]) : 5;
  const char *list = argc > 5 && !strcmp(argv[4], "--write-list") ? argv[5] : NULL;

  // Writable mappings, read before the process stops (its maps do not change while it is stopped below).
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *maps = fopen(path, "r");
  if (!maps) die(path);
  uint64_t starts[4096], ends[4096];
  int n = 0;
  char line[512];
  while (n < 4096 && fgets(line, sizeof line, maps)) {
    unsigned long s, e;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) != 3) continue;
    if (perms[1] != 'w' || strstr(line, "[vvar") || strstr(line, "[vsyscall]")) continue;
    starts[n] = s, ends[n++] = e;
  }
  fclose(maps);

  double t0 = now_ms();
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) die("PTRACE_SEIZE");
  if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) die("PTRACE_INTERRUPT");
  int status;
  if (waitpid(pid, &status, __WALL) < 0) die("waitpid");
  if (ptrace(PTRACE_GETREGS, pid, 0, &saved) < 0) die("PTRACE_GETREGS");
  code = saved.rip & ~7ULL;
  peek(code, &code_orig, 8);
  uint64_t ins = code_orig;
  unsigned char *b = (unsigned char *)&ins;
  b[0] = 0x0f, b[1] = 0x05, b[2] = 0xcc; // syscall; int3
  poke(code, &ins, 8);
  // Arguments go on the process's stack, well below its red zone.
  uint64_t scratch = ((saved.rsp - 4096) & ~15ULL);
  uint64_t scratch_orig[8];
  peek(scratch, scratch_orig, sizeof scratch_orig);

  long ufd = inject(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0);
  if (ufd < 0) {
    fprintf(stderr, "wp-track: userfaultfd() in the process: %s\n", strerror(-ufd));
    return 1;
  }
  struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};
  poke(scratch, &api, sizeof api);
  long rc = inject(SYS_ioctl, ufd, UFFDIO_API, scratch);
  if (rc < 0) {
    fprintf(stderr, "wp-track: UFFDIO_API: %s\n", strerror(-rc));
    return 1;
  }
  int registered = 0;
  uint64_t bytes = 0;
  for (int i = 0; i < n; i++) {
    struct uffdio_register reg = {.range = {.start = starts[i], .len = ends[i] - starts[i]},
                                  .mode = UFFDIO_REGISTER_MODE_WP};
    poke(scratch, &reg, sizeof reg);
    rc = inject(SYS_ioctl, ufd, UFFDIO_REGISTER, scratch);
    if (rc < 0)
      fprintf(stderr, "wp-track: register %#lx-%#lx: %s\n", (long)starts[i], (long)ends[i], strerror(-rc));
    else
      registered++, bytes += ends[i] - starts[i];
  }
  int pidfd = syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) die("pidfd_open");
  int uffd = syscall(SYS_pidfd_getfd, pidfd, (int)ufd, 0);
  if (uffd < 0) die("pidfd_getfd");
  inject(SYS_close, ufd, 0, 0);
  poke(scratch, scratch_orig, sizeof scratch_orig);
  poke(code, &code_orig, 8);
  if (ptrace(PTRACE_SETREGS, pid, 0, &saved) < 0) die("PTRACE_SETREGS (restore)");
  if (ptrace(PTRACE_DETACH, pid, 0, 0) < 0) die("PTRACE_DETACH");
  printf("registered %d of %d writable mappings (%.1f MiB) in %.1f ms; the process holds no userfaultfd\n",
         registered, n, bytes / 1048576.0, now_ms() - t0);
  fflush(stdout);

  snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
  int pm = open(path, O_RDONLY);
  if (pm < 0) die(path);
  static struct page_region vec[65536];
  for (int round = 0; round <= rounds; round++) {
    if (round) usleep(interval * 1000);
    uint64_t pages = 0, regions = 0;
    double s = now_ms();
    for (int i = 0; i < n; i++) {
      uint64_t start = starts[i];
      while (start < ends[i]) {
        struct pm_scan_arg a = {.size = sizeof a,
                                .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                                .start = start,
                                .end = ends[i],
                                .vec = (uint64_t)(uintptr_t)vec,
                                .vec_len = 65536,
                                .category_mask = PAGE_IS_WRITTEN,
                                .return_mask = PAGE_IS_WRITTEN};
        long got = ioctl(pm, PAGEMAP_SCAN, &a);
        if (got < 0) {
          if (errno == EPERM || errno == ENOENT) break; // unmapped or no longer registered since: all written
          die("PAGEMAP_SCAN");
        }
        for (long k = 0; k < got; k++) pages += (vec[k].end - vec[k].start) / 4096;
        regions += got;
        if (list && round == rounds) {
          FILE *f = fopen(list, round == rounds && i == 0 && start == starts[0] ? "w" : "a");
          for (long k = 0; f && k < got; k++) fprintf(f, "%lx-%lx\n", (long)vec[k].start, (long)vec[k].end);
          if (f) fclose(f);
        }
        if (a.walk_end >= ends[i] || got < 65536) break;
        start = a.walk_end;
      }
    }
    if (list && round == rounds) {
      char done[4096];
      snprintf(done, sizeof done, "%s.done", list);
      FILE *f = fopen(done, "w");
      if (f) fclose(f);
    }
    printf("round %d: %lu pages written (%lu ranges) since the last look; scan + re-protect %.2f ms\n", round,
           (unsigned long)pages, (unsigned long)regions, now_ms() - s);
    fflush(stdout);
  }
  close(uffd);
  return 0;
}

/*
 * zanshin-nothp: runs a command with transparent huge pages turned off for it and everything it starts
 * (PR_SET_THP_DISABLE is inherited across fork and kept across execve).
 *
 *   zanshin-nothp PROGRAM ARGS...
 *
 * Node workers run `runc restore` through it. CRIU writes a restored process's pages into memory it maps in the
 * restored process itself before that process's own THP setting is put back (CRIU 4.2 turns THP off there only
 * for lazy restores). On a kernel whose THP is "always" (Debian's), one page written into a 2-MiB range makes the
 * whole range resident: pages the image never held appear, zero-filled. Tracking restarts at the restore, so the
 * next differential dump finds them unchanged and looks for them in the parent image, which lacks them: "Missing
 * ... in parent pagemap", and the dump fails (seen on guest PCs, about one return move in two).
 */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: zanshin-nothp PROGRAM ARGS...\n");
    return 2;
  }
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
    perror("zanshin-nothp: PR_SET_THP_DISABLE");
    return 1;
  }
  execvp(argv[1], argv + 1);
  perror("zanshin-nothp: exec");
  return 127;
}

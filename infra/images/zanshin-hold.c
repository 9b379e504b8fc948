// zanshin-hold: keeps the packets an iptables NFQUEUE rule hands it, in the kernel's queue, until told to let them
// all through at once. Run inside a container's network namespace while the container moves: a peer's packets
// that arrive during the downtime wait there instead of being dropped, so the peer's TCP is answered as soon as the
// restored program runs, not at its next retransmission (TCP backs off: 0.2, 0.6, 1.4, 3.0, 6.2, 12.6 s...).
//
//   zanshin-hold QUEUE      prints "holding" once bound; SIGUSR1 lets every held packet through (one batch verdict)
//                           and prints "released N" before it exits. SIGTERM, SIGINT or the end of stdin (its
//                           worker died) end it without a verdict: the kernel drops what it held. Releasing then
//                           would hand the packets to a namespace where no program runs yet, which answers with
//                           resets and breaks the very connections the move keeps.
//
// Raw nfnetlink (no libnetfilter_queue): the few messages it needs are small, and the binary stays static so that
// guest PCs run it too.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/** Packets the kernel keeps for us at most; past it, it drops (the peer retransmits, as without us). */
#define QUEUE_MAXLEN 16384

static int fd;
static uint16_t queue;
static uint32_t seq;

static void die(const char *what) {
  fprintf(stderr, "zanshin-hold: %s: %s\n", what, strerror(errno));
  exit(1);
}

struct msg {
  char buf[256];
  struct nlmsghdr *nh;
};

static void start(struct msg *m, uint16_t type, uint16_t flags) {
  memset(m->buf, 0, sizeof m->buf);
  m->nh = (struct nlmsghdr *)m->buf;
  m->nh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  m->nh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  m->nh->nlmsg_flags = NLM_F_REQUEST | flags;
  m->nh->nlmsg_seq = ++seq;
  struct nfgenmsg *g = NLMSG_DATA(m->nh);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue);
}

static void attr(struct msg *m, uint16_t type, const void *data, uint16_t len) {
  struct nlattr *a = (struct nlattr *)(m->buf + NLMSG_ALIGN(m->nh->nlmsg_len));
  a->nla_type = type;
  a->nla_len = NLA_HDRLEN + len;
  memcpy((char *)a + NLA_HDRLEN, data, len);
  m->nh->nlmsg_len = NLMSG_ALIGN(m->nh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/** Sends a request and waits for its acknowledgement (packets that arrive meanwhile are only counted). */
static void request(struct msg *m, uint32_t *last_id, unsigned long *held);

static void note_packet(struct nlmsghdr *nh, uint32_t *last_id, unsigned long *held) {
  int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
  struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(nh) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
  while (len >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
    if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR) {
      struct nfqnl_msg_packet_hdr *ph = (struct nfqnl_msg_packet_hdr *)((char *)a + NLA_HDRLEN);
      *last_id = ntohl(ph->packet_id);
      (*held)++;
    }
    len -= NLA_ALIGN(a->nla_len);
    a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
  }
}

/** Reads what the kernel sent; returns the error of the ack for `want_seq` (0 when acked), or 1 if none came. */
static int receive(uint32_t want_seq, uint32_t *last_id, unsigned long *held) {
  static char buf[65536];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < 0) {
    if (errno == ENOBUFS) return 1; // the socket overflowed: packets past it are the kernel's to drop
    die("recv");
  }
  int acked = 1;
  for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
    if (nh->nlmsg_type == NLMSG_ERROR) {
      struct nlmsgerr *e = NLMSG_DATA(nh);
      if (nh->nlmsg_seq == want_seq) acked = e->error;
    } else if (nh->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
      note_packet(nh, last_id, held);
    }
  }
  return acked;
}

static void request(struct msg *m, uint32_t *last_id, unsigned long *held) {
  if (send(fd, m->buf, m->nh->nlmsg_len, 0) < 0) die("send");
  int r;
  while ((r = receive(m->nh->nlmsg_seq, last_id, held)) == 1) {
  }
  if (r < 0) {
    errno = -r;
    die("nfnetlink request refused (iptables' NFQUEUE support, CAP_NET_ADMIN?)");
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: zanshin-hold QUEUE-NUMBER\n");
    return 2;
  }
  queue = (uint16_t)atoi(argv[1]);
  fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  if (fd < 0) die("netlink socket");
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");

  uint32_t last_id = 0;
  unsigned long held = 0;
  struct msg m;
  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET)};
  start(&m, NFQNL_MSG_CONFIG, NLM_F_ACK);
  attr(&m, NFQA_CFG_CMD, &cmd, sizeof cmd);
  request(&m, &last_id, &held);
  // Metadata only: the packets stay in the kernel, we need their ids.
  struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
  uint32_t maxlen = htonl(QUEUE_MAXLEN);
  start(&m, NFQNL_MSG_CONFIG, NLM_F_ACK);
  attr(&m, NFQA_CFG_PARAMS, &params, sizeof params);
  attr(&m, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
  request(&m, &last_id, &held);
  printf("holding\n");
  fflush(stdout);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, 0);
  if (sfd < 0) die("signalfd");
  struct pollfd p[3] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    if (poll(p, 3, -1) < 0 && errno != EINTR) die("poll");
    if (p[0].revents & POLLIN) receive(0, &last_id, &held);
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1) break;
      return 0; // asked to end: nothing passes
    }
    if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      char c[64];
      if (read(0, c, sizeof c) <= 0) return 0; // the worker is gone: nothing passes
    }
  }
  // Take what is still in the socket, then one verdict lets through every packet up to the last id.
  struct pollfd q = {.fd = fd, .events = POLLIN};
  while (poll(&q, 1, 0) > 0 && (q.revents & POLLIN)) receive(0, &last_id, &held);
  if (held) {
    struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(NF_ACCEPT), .id = htonl(last_id)};
    start(&m, NFQNL_MSG_VERDICT_BATCH, NLM_F_ACK);
    attr(&m, NFQA_VERDICT_HDR, &v, sizeof v);
    request(&m, &last_id, &held);
  }
  printf("released %lu\n", held);
  fflush(stdout);
  return 0;
}

/* netdelay QUEUE DELAY_US [MAXLEN]: hold every packet netfilter queues to QUEUE for DELAY_US
 * microseconds, then let it go on, in the order it came.
 *
 * For a kernel without the netem qdisc: iptables rules send a link's packets (every protocol, both
 * directions) to the queue with --queue-bypass, and this program gives each its verdict once its
 * time has come. The delay stays in the kernel's own path, so TCP's slow start, ACK clocking and
 * window growth meet it as they would meet netem. Only the packets' metadata crosses to user space
 * (NFQNL_COPY_META); GSO packets come whole (NFQA_CFG_F_GSO). All packets wait equally long, so a
 * FIFO holds them and one batch verdict releases every packet that is due. Speaks raw nfnetlink:
 * no library beyond libc. Prints "ready" once bound, and counts on SIGTERM/SIGINT.
 *
 * netem's timer fires in the kernel, ahead of every process; here a packet waits also for this
 * program to wake. So it runs real-time (SCHED_FIFO, where allowed; it sleeps between packets) with
 * no timer slack: a busy machine does not add its scheduling delay to the setting.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#define BUFFER (1 << 20)

static volatile sig_atomic_t stopping;
static void on_stop(int sig) { (void)sig; stopping = 1; }

struct held { uint64_t due_ns; uint32_t id; };

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *what) { fprintf(stderr, "netdelay: %s: %s\n", what, strerror(errno)); exit(1); }

/* Append attribute TYPE with LEN bytes of DATA to the message at BUF. */
static void put_attr(char *buf, uint16_t type, const void *data, uint16_t len) {
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    struct nlattr *attr = (struct nlattr *)(buf + NLMSG_ALIGN(nlh->nlmsg_len));
    attr->nla_type = type;
    attr->nla_len = NLA_HDRLEN + len;
    memcpy((char *)attr + NLA_HDRLEN, data, len);
    nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(attr->nla_len);
}

/* Start a queue message of TYPE for QUEUE at BUF. */
static void start_message(char *buf, uint16_t type, uint16_t queue, uint16_t flags) {
    memset(buf, 0, 256);
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    struct nfgenmsg *g = NLMSG_DATA(nlh);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(queue);
}

static void send_message(int fd, char *buf) {
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    if (sendto(fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) die("sendto");
}

/* Send BUF with an ack asked for; fail on the kernel's error. */
static void configure(int fd, char *buf) {
    ((struct nlmsghdr *)buf)->nlmsg_flags |= NLM_F_ACK;
    send_message(fd, buf);
    char answer[4096];
    ssize_t n = recv(fd, answer, sizeof answer, 0);
    if (n < 0) die("recv (configuration)");
    struct nlmsghdr *nlh = (struct nlmsghdr *)answer;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *err = NLMSG_DATA(nlh);
        if (err->error) { errno = -err->error; die("queue configuration"); }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: netdelay QUEUE DELAY_US [MAXLEN]\n"); return 2; }
    uint16_t queue = (uint16_t)atoi(argv[1]);
    uint64_t delay_ns = strtoull(argv[2], NULL, 10) * 1000ull;
    uint32_t maxlen = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 10000;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prctl(PR_SET_TIMERSLACK, 1UL);
    struct sched_param realtime = {.sched_priority = 10};
    int scheduled = sched_setscheduler(0, SCHED_FIFO, &realtime) == 0;

    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    if (fd < 0) die("socket");
    int size = 64 << 20;   /* a burst of queued packets must not overrun the socket (then they would be lost) */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) die("SO_RCVBUFFORCE");
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");

    static char buf[BUFFER];
    struct nfqnl_msg_config_cmd bind_cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_UNSPEC)};
    start_message(buf, NFQNL_MSG_CONFIG, queue, 0);
    put_attr(buf, NFQA_CFG_CMD, &bind_cmd, sizeof bind_cmd);
    configure(fd, buf);
    struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
    uint32_t length = htonl(maxlen), flags = htonl(NFQA_CFG_F_GSO), mask = htonl(NFQA_CFG_F_GSO);
    start_message(buf, NFQNL_MSG_CONFIG, queue, 0);
    put_attr(buf, NFQA_CFG_PARAMS, &params, sizeof params);
    put_attr(buf, NFQA_CFG_QUEUE_MAXLEN, &length, sizeof length);
    put_attr(buf, NFQA_CFG_MASK, &mask, sizeof mask);
    put_attr(buf, NFQA_CFG_FLAGS, &flags, sizeof flags);
    configure(fd, buf);
    printf("ready queue %u delay_us %llu maxlen %u %s\n", queue, (unsigned long long)(delay_ns / 1000), maxlen,
           scheduled ? "realtime" : "not realtime");
    fflush(stdout);

    size_t capacity = (size_t)maxlen * 2 + 16;
    struct held *fifo = calloc(capacity, sizeof *fifo);
    if (!fifo) die("calloc");
    size_t head = 0, tail = 0;          /* held packets: [head, tail) modulo capacity */
    unsigned long long delayed = 0, overflow = 0;
    char verdict[256];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (!stopping) {
        uint64_t now = now_ns();
        uint32_t last = 0;
        int due = 0;
        while (head != tail && fifo[head].due_ns <= now) {   /* every packet whose time has come */
            last = fifo[head].id;
            due = 1;
            head = (head + 1) % capacity;
        }
        if (due) {
            struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(NF_ACCEPT), .id = htonl(last)};
            start_message(verdict, NFQNL_MSG_VERDICT_BATCH, queue, 0);
            put_attr(verdict, NFQA_VERDICT_HDR, &v, sizeof v);
            send_message(fd, verdict);
        }
        struct timespec wait = {1, 0}, *timeout = &wait;
        if (head != tail) {
            uint64_t left = fifo[head].due_ns > now ? fifo[head].due_ns - now : 0;
            wait.tv_sec = (time_t)(left / 1000000000ull);
            wait.tv_nsec = (long)(left % 1000000000ull);
        }
        int ready = ppoll(&pfd, 1, timeout, NULL);
        if (ready < 0) { if (errno == EINTR) continue; die("ppoll"); }
        if (ready == 0) continue;
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == ENOBUFS) { overflow++; continue; }   /* the kernel dropped messages: count it */
                die("recv");
            }
            uint64_t arrived = now_ns();
            for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
                if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) continue;
                struct nlattr *attr = (struct nlattr *)((char *)NLMSG_DATA(nlh) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
                int left = (int)nlh->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
                for (; left >= NLA_HDRLEN && attr->nla_len >= NLA_HDRLEN && attr->nla_len <= left;
                     left -= NLA_ALIGN(attr->nla_len), attr = (struct nlattr *)((char *)attr + NLA_ALIGN(attr->nla_len))) {
                    if ((attr->nla_type & NLA_TYPE_MASK) != NFQA_PACKET_HDR) continue;
                    struct nfqnl_msg_packet_hdr *ph = (struct nfqnl_msg_packet_hdr *)((char *)attr + NLA_HDRLEN);
                    size_t next = (tail + 1) % capacity;
                    if (next == head) { overflow++; break; }   /* never more than the kernel's queue holds */
                    fifo[tail].id = ntohl(ph->packet_id);
                    fifo[tail].due_ns = arrived + delay_ns;
                    tail = next;
                    delayed++;
                    break;
                }
            }
        }
    }
    if (head != tail) {   /* what is still held goes on at once: nothing is lost on the way out */
        struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(NF_ACCEPT), .id = htonl(fifo[(tail + capacity - 1) % capacity].id)};
        start_message(verdict, NFQNL_MSG_VERDICT_BATCH, queue, 0);
        put_attr(verdict, NFQA_VERDICT_HDR, &v, sizeof v);
        send_message(fd, verdict);
    }
    printf("delayed %llu packets, %llu lost to overflow\n", delayed, overflow);
    return 0;
}

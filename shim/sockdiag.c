/* A netlink sock_diag client: what a TCP connection or a unix socket still
 * holds, asked of the kernel by addresses or by inode, so that inflight.c
 * can ask after the program closed or reused the fd it sent through.  Not
 * a hot path: only while settling, and once per noted socket.  Calls only
 * the real socket functions, on a short-lived fd of its own. */
#include "zcopy.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

void zc_sockdiag_tcp_ends(int fd, struct zc_tcp_ends *ends)
{
    struct sockaddr_storage own, peer;
    socklen_t own_len = sizeof own, peer_len = sizeof peer;
    ends->family = 0;
    if (getsockname(fd, (struct sockaddr *)&own, &own_len) < 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &peer_len) < 0 || own.ss_family != peer.ss_family)
        return;
    if (own.ss_family == AF_INET) {
        const struct sockaddr_in *o = (const void *)&own, *p = (const void *)&peer;
        memcpy(ends->own_addr, &o->sin_addr, 4);
        memcpy(ends->peer_addr, &p->sin_addr, 4);
        ends->own_port = o->sin_port;
        ends->peer_port = p->sin_port;
    } else if (own.ss_family == AF_INET6) {  /* v4-mapped too: sock_diag looks those up itself */
        const struct sockaddr_in6 *o = (const void *)&own, *p = (const void *)&peer;
        memcpy(ends->own_addr, &o->sin6_addr, 16);
        memcpy(ends->peer_addr, &p->sin6_addr, 16);
        ends->own_port = o->sin6_port;
        ends->peer_port = p->sin6_port;
    } else {
        return;
    }
    ends->family = own.ss_family;
}

/* One sock_diag request (ASK, whose header is filled in here) and the
 * first message of its answer.  -1: no answer, or no NETLINK_SOCK_DIAG
 * socket at all (a systemd unit's RestrictAddressFamilies= without
 * AF_NETLINK, say).  Not a hot path: only while settling, and once per
 * noted unix socket. */
union diag_answer {
    struct nlmsghdr nlh;
    char bytes[1024];
};

static ssize_t diag_ask(struct nlmsghdr *ask, size_t len, union diag_answer *answer)
{
    /* real_ calls: a short-lived fd of our own, not the program's. */
    int nl = real_socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    ask->nlmsg_len = (uint32_t)len;
    ask->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    ask->nlmsg_flags = NLM_F_REQUEST;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    ssize_t got = -1;
    if (real_sendto(nl, ask, len, 0, (struct sockaddr *)&kernel, sizeof kernel) == (ssize_t)len)
        got = real_recv(nl, answer, sizeof *answer, 0);
    real_close(nl);
    return got;
}

/* One TCP socket's queue: the socket whose own side is src:sport and whose
 * peer is dst:dport.  0: no such socket; -1: no answer. */
static long diag_queue(int family, const uint8_t *src, in_port_t sport, const uint8_t *dst, in_port_t dport,
                       bool unread)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } ask = { 0 };
    ask.req.sdiag_family = (uint8_t)family;
    ask.req.sdiag_protocol = IPPROTO_TCP;
    ask.req.idiag_states = ~0u;
    ask.req.id.idiag_sport = sport;
    ask.req.id.idiag_dport = dport;
    memcpy(ask.req.id.idiag_src, src, 16);
    memcpy(ask.req.id.idiag_dst, dst, 16);
    ask.req.id.idiag_cookie[0] = ask.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    union diag_answer answer;
    ssize_t got = diag_ask(&ask.nlh, sizeof ask, &answer);
    if (got < 0)
        return -1;
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct inet_diag_msg)) || answer.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY)
        return 0;  /* NLMSG_ERROR: no such socket */
    const struct inet_diag_msg *msg = NLMSG_DATA(&answer.nlh);
    /* No socket with these four ends: the kernel then answers with the one
     * listening on src:sport, whose queues are its backlog, not our bytes. */
    if (msg->idiag_state == TCP_LISTEN || msg->id.idiag_dport != dport)
        return 0;
    return unread ? msg->idiag_rqueue : msg->idiag_wqueue;
}

/* Whether a TCP connection still has bytes its receiving program has not
 * read: our unacknowledged ones (as SIOCOUTQ), or, when the peer socket is
 * on this host, its receive queue.  Over loopback TCP acks a segment as soon
 * as the peer socket queues it, while that queue still refers to our
 * page-cache pages.  A remote peer (or one in another network namespace) is
 * not found: its acked bytes have left this host.  -1: sock_diag does not
 * answer here. */
long zc_sockdiag_tcp_unread(const struct zc_tcp_ends *e)
{
    long n = diag_queue(e->family, e->own_addr, e->own_port, e->peer_addr, e->peer_port, false);
    if (n == 0)
        n = diag_queue(e->family, e->peer_addr, e->peer_port, e->own_addr, e->own_port, true);
    return n;
}

/* A unix socket by inode, from unix_diag: with UDIAG_SHOW_PEER, the
 * inode of its peer (0: none); with UDIAG_SHOW_RQLEN, the bytes in its
 * receive queue (0: no such socket any more); -1: no answer. */
static long unix_diag_ask(uint32_t ino, uint32_t show)
{
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } ask = { 0 };
    ask.req.sdiag_family = AF_UNIX;
    ask.req.udiag_states = ~0u;
    ask.req.udiag_ino = ino;
    ask.req.udiag_show = show;
    ask.req.udiag_cookie[0] = ask.req.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
    union diag_answer answer;
    ssize_t got = diag_ask(&ask.nlh, sizeof ask, &answer);
    if (got >= (ssize_t)NLMSG_LENGTH(0) && answer.nlh.nlmsg_type == NLMSG_ERROR)
        return 0;  /* no such socket: closed, its queue freed */
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct unix_diag_msg)) ||
        answer.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY || (size_t)got < answer.nlh.nlmsg_len)
        return -1;
    long result = 0;
    int left = (int)answer.nlh.nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct unix_diag_msg));
    struct rtattr *a = (struct rtattr *)((char *)NLMSG_DATA(&answer.nlh) + NLMSG_ALIGN(sizeof(struct unix_diag_msg)));
    for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t) && show == UDIAG_SHOW_PEER)
            result = *(const uint32_t *)RTA_DATA(a);
        if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen) &&
            show == UDIAG_SHOW_RQLEN)
            result = ((const struct unix_diag_rqlen *)RTA_DATA(a))->udiag_rqueue;
    }
    return result;
}

long zc_sockdiag_unix_peer(uint32_t ino)
{
    return unix_diag_ask(ino, UDIAG_SHOW_PEER);
}

long zc_sockdiag_unix_unread(uint32_t ino)
{
    return unix_diag_ask(ino, UDIAG_SHOW_RQLEN);
}

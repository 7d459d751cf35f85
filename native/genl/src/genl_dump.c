/*
 * lvs_genl: many generic netlink dumps in one call, off the JavaScript thread.
 *
 * A snapshot of the IPVS table is one GET_SERVICE dump plus one GET_DEST dump per service (10,000 services:
 * 10,001 dumps, about 20,000 datagrams). Through a JavaScript binding each datagram costs a peek, two
 * recvmsg calls, a Buffer with a finalizer and a call into JavaScript. Here one call to Engine#dump() hands
 * all the requests to a libuv thread-pool thread (napi_async_work), which runs them over the engine's
 * NETLINK_GENERIC sockets and resolves with ONE buffer of every reply message plus an index:
 *
 *   const e = new Engine(sockets, recvBytes, batch);   // sockets opened here, on the calling thread, so in
 *                                                       // its network namespace; kept until close()
 *   const { data, ranges, messages } = await e.dump(familyId, cmd, version, [attrs0, attrs1, ...],
 *                                                   timeoutMs, maxRetries);
 *   // request i's replies are messages[2*k], messages[2*k+1] (offset of its genlmsghdr in data, length
 *   // of genlmsghdr + attributes) for k in [ranges[2*i], ranges[2*i] + ranges[2*i+1])
 *
 * Each socket runs one dump at a time (a netlink socket refuses a second one with EBUSY); the sockets are
 * pipelined: every idle socket is given the next request, then poll() and recvmmsg() read whatever is ready,
 * with no MSG_PEEK (poll() only when a round of reads found nothing). The receive buffer size (recvBytes) is also what the kernel sizes its dump datagrams by
 * (net/netlink/af_netlink.c: max_recvmsg_len, capped at 32 KiB), so a reader of small dumps wants small
 * buffers and a reader of one long dump large ones. A dump flagged NLM_F_DUMP_INTR is run again (up to
 * maxRetries times) and its partial replies are dropped. Every wait for the kernel is bounded by timeoutMs.
 *
 * Failures reject with an Error carrying: kind ("errno" | "timeout" | "interrupted" | "protocol" | "socket"
 * | "busy" | "closed"), errno (positive, when there is one), request (the index that failed), extack (the
 * kernel's extended-ack text) and syscall. After the first failure no further dump is started; dumps already
 * on the wire are read to their end (their replies dropped). A socket left in an unknown state (a timeout,
 * a socket error, a malformed reply) is replaced on the JavaScript thread when the call completes.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_DUMP_INTR
#define NLM_F_DUMP_INTR 0x10
#endif
#define NLMSGERR_ATTR_MSG_ 1

#define MAX_SOCKETS 64
#define MAX_BATCH 64

/* ---------------------------------------------------------------------------------------------------- */
/* Growable byte and int arrays (the thread-pool side builds its output in these).                     */

typedef struct {
  uint8_t *p;
  size_t len, cap;
} bytes_t;

typedef struct {
  int32_t *p;
  size_t len, cap;
} ints_t;

static int bytes_reserve(bytes_t *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->len + more) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int ints_push2(ints_t *a, int32_t x, int32_t y) {
  if (a->len + 2 > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 4096;
    int32_t *p = realloc(a->p, cap * sizeof(int32_t));
    if (!p) return -1;
    a->p = p;
    a->cap = cap;
  }
  a->p[a->len++] = x;
  a->p[a->len++] = y;
  return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The engine: sockets kept between calls.                                                              */

typedef struct {
  int fd;
  uint32_t port;
  uint32_t seq;
  int dirty; /* state unknown (a timeout or socket error mid-dump): replaced on the JS thread */
  int open_errno;
} nsock_t;

typedef struct {
  int nsock;
  int recv_bytes;
  int batch;
  nsock_t socks[MAX_SOCKETS];
  int busy;
  int closed;
  uint8_t *arena; /* nsock * batch * recv_bytes receive buffers, used by the thread-pool thread */
} engine_t;

static int open_socket(nsock_t *s, int recv_bytes) {
  s->fd = -1;
  s->dirty = 0;
  s->open_errno = 0;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_GENERIC);
  if (fd < 0) {
    s->open_errno = errno;
    return -1;
  }
  int one = 1;
  /* Best effort: extended-ack messages, and errors without a copy of our request. */
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  int rcv = recv_bytes * 16 < (1 << 20) ? (1 << 20) : recv_bytes * 16;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  socklen_t sl = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    s->open_errno = errno;
    close(fd);
    return -1;
  }
  s->fd = fd;
  s->port = sa.nl_pid;
  if (s->seq == 0) s->seq = (uint32_t)time(NULL);
  return 0;
}

static void close_sockets(engine_t *e) {
  for (int i = 0; i < e->nsock; i++) {
    if (e->socks[i].fd >= 0) close(e->socks[i].fd);
    e->socks[i].fd = -1;
  }
}

/* ---------------------------------------------------------------------------------------------------- */
/* One call: the requests in, the replies out.                                                          */

typedef struct {
  int req;      /* request on the wire, -1 when idle */
  int attempts; /* runs of this request so far (NLM_F_DUMP_INTR) */
  int intr;
  int discard; /* replies dropped: the call already failed */
  bytes_t stage; /* this dump's messages (genlmsghdr onwards), committed at NLMSG_DONE */
  ints_t stage_msgs; /* (offset in stage, length) */
} run_sock_t;

typedef struct {
  engine_t *eng;
  napi_ref self; /* the Engine object: kept alive while the work runs */
  napi_async_work work;
  napi_deferred deferred;
  uint16_t type;
  uint8_t cmd, version;
  int timeout_ms, max_retries;
  int nreq;
  uint8_t *reqdata;
  uint32_t *reqoff, *reqlen;
  /* results */
  bytes_t out;
  ints_t msgs;    /* (offset in out, length) */
  int32_t *ranges; /* (first message, count) per request */
  /* the first failure */
  int failed;
  const char *kind;
  int err_errno;
  int err_req;
  const char *syscall;
  char message[160];
  char extack[256];
} work_t;

static void fail(work_t *w, const char *kind, int err, int req, const char *syscall, const char *fmt, const char *arg) {
  if (w->failed) return;
  w->failed = 1;
  w->kind = kind;
  w->err_errno = err;
  w->err_req = req;
  w->syscall = syscall;
  snprintf(w->message, sizeof w->message, fmt, arg ? arg : "");
}

/* Sends request `req` on socket s as a dump (NLM_F_REQUEST | NLM_F_DUMP) with the socket's next sequence number. */
static void start_dump(work_t *w, nsock_t *s, run_sock_t *r, int req) {
  r->req = req;
  r->intr = 0;
  r->stage.len = 0;
  r->stage_msgs.len = 0;
  s->seq = s->seq + 1 ? s->seq + 1 : 1;
  struct {
    struct nlmsghdr n;
    struct genlmsghdr g;
  } hdr;
  memset(&hdr, 0, sizeof hdr);
  hdr.n.nlmsg_len = (uint32_t)(sizeof hdr + w->reqlen[req]);
  hdr.n.nlmsg_type = w->type;
  hdr.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  hdr.n.nlmsg_seq = s->seq;
  hdr.n.nlmsg_pid = s->port;
  hdr.g.cmd = w->cmd;
  hdr.g.version = w->version;
  struct iovec iov[2] = {{&hdr, sizeof hdr}, {w->reqdata + w->reqoff[req], w->reqlen[req]}};
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  struct msghdr mh = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = iov, .msg_iovlen = w->reqlen[req] ? 2 : 1};
  ssize_t n;
  do n = sendmsg(s->fd, &mh, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    s->dirty = 1;
    r->req = -1;
    fail(w, "socket", err, req, "sendmsg", "sending the request failed: %s", strerror(err));
  }
}

/* The extended-ack text of an NLMSG_ERROR (struct nlmsgerr, then attributes when NLM_F_ACK_TLVS). */
static void extack_of(work_t *w, const struct nlmsghdr *h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  const uint8_t *p = (const uint8_t *)h + NLMSG_HDRLEN;
  size_t len = h->nlmsg_len - NLMSG_HDRLEN;
  if (len < sizeof(struct nlmsgerr)) return;
  const struct nlmsgerr *e = (const struct nlmsgerr *)p;
  size_t at = sizeof(struct nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) at = NLMSG_ALIGN(sizeof(int) + e->msg.nlmsg_len);
  while (at + 4 <= len) {
    uint16_t alen = *(const uint16_t *)(p + at), atype = *(const uint16_t *)(p + at + 2);
    if (alen < 4 || at + alen > len) return;
    if ((atype & 0x3fff) == NLMSGERR_ATTR_MSG_) {
      size_t n = (size_t)alen - 4;
      if (n > sizeof w->extack - 1) n = sizeof w->extack - 1;
      memcpy(w->extack, p + at + 4, n);
      w->extack[n] = 0; /* the kernel's text ends in its own NUL, or here */
      return;
    }
    at += NLMSG_ALIGN(alen);
  }
}

/* One datagram for socket s. Returns 1 when its dump ended (cleanly or not), 0 when more is to come. */
static int take_datagram(work_t *w, nsock_t *s, run_sock_t *r, const uint8_t *d, size_t n) {
  size_t at = 0;
  while (at < n) {
    if (n - at < NLMSG_HDRLEN) {
      s->dirty = 1; /* the dump may still be running in the kernel */
      fail(w, "protocol", 0, r->req, NULL, "malformed reply datagram: %s", "a message header is cut short");
      return 1;
    }
    const uint8_t *m = d + at;
    const struct nlmsghdr *h = (const struct nlmsghdr *)m;
    if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > n - at) {
      s->dirty = 1; /* the dump may still be running in the kernel */
      fail(w, "protocol", 0, r->req, NULL, "malformed reply datagram: %s", "a message length is out of bounds");
      return 1;
    }
    size_t len = h->nlmsg_len;
    at += NLMSG_ALIGN(len);
    if (h->nlmsg_seq != s->seq) continue; /* a late reply to an earlier request */
    if (h->nlmsg_flags & NLM_F_DUMP_INTR) r->intr = 1;
    switch (h->nlmsg_type) {
      case NLMSG_NOOP:
        continue;
      case NLMSG_OVERRUN:
        s->dirty = 1; /* the dump may still be running in the kernel */
        fail(w, "protocol", 0, r->req, NULL, "%sthe kernel reported a netlink overrun", "");
        return 1;
      case NLMSG_ERROR: {
        if (len < NLMSG_HDRLEN + sizeof(int)) {
          s->dirty = 1; /* the dump may still be running in the kernel */
          fail(w, "protocol", 0, r->req, NULL, "%san NLMSG_ERROR message is too short", "");
          return 1;
        }
        int err = -*(const int *)(m + NLMSG_HDRLEN);
        if (err == 0) return 1; /* an ACK: nothing more comes */
        if (!r->discard && !w->failed) extack_of(w, h);
        fail(w, "errno", err, r->req, NULL, "%sthe kernel rejected the request", "");
        return 1;
      }
      case NLMSG_DONE: {
        int err = len >= NLMSG_HDRLEN + sizeof(int) ? -*(const int *)(m + NLMSG_HDRLEN) : 0;
        if (err > 0) fail(w, "errno", err, r->req, NULL, "%sthe dump ended with an error", "");
        return 1;
      }
      default:
        if (r->discard) continue;
        if (h->nlmsg_type != w->type) {
          char t[16];
          snprintf(t, sizeof t, "%u", h->nlmsg_type);
          s->dirty = 1; /* the dump may still be running in the kernel */
          fail(w, "protocol", 0, r->req, NULL, "reply of message type %s, not the family's", t);
          return 1;
        }
        if (len - NLMSG_HDRLEN < GENL_HDRLEN) {
          s->dirty = 1; /* the dump may still be running in the kernel */
          fail(w, "protocol", 0, r->req, NULL, "%sa reply has no genetlink header", "");
          return 1;
        }
        size_t plen = len - NLMSG_HDRLEN;
        if (bytes_reserve(&r->stage, NLMSG_ALIGN(plen)) < 0 || ints_push2(&r->stage_msgs, (int32_t)r->stage.len, (int32_t)plen) < 0) {
          s->dirty = 1;
          fail(w, "socket", ENOMEM, r->req, NULL, "%sout of memory for the replies", "");
          return 1;
        }
        memcpy(r->stage.p + r->stage.len, m + NLMSG_HDRLEN, plen);
        r->stage.len += NLMSG_ALIGN(plen);
    }
  }
  return 0;
}

/* The dump on socket s ended: commit its replies, or run it again (NLM_F_DUMP_INTR), or drop them. */
static void end_dump(work_t *w, nsock_t *s, run_sock_t *r) {
  int req = r->req;
  r->req = -1;
  if (w->failed || r->discard) return;
  if (r->intr) {
    if (++r->attempts > w->max_retries) {
      char a[16];
      snprintf(a, sizeof a, "%d", r->attempts);
      fail(w, "interrupted", 0, req, NULL, "the kernel's table kept changing during the dump (%s attempts)", a);
      return;
    }
    start_dump(w, s, r, req);
    return;
  }
  size_t base = w->out.len;
  if (bytes_reserve(&w->out, r->stage.len) < 0) {
    fail(w, "socket", ENOMEM, req, NULL, "%sout of memory for the replies", "");
    return;
  }
  memcpy(w->out.p + base, r->stage.p, r->stage.len);
  w->out.len += r->stage.len;
  w->ranges[2 * req] = (int32_t)(w->msgs.len / 2);
  w->ranges[2 * req + 1] = (int32_t)(r->stage_msgs.len / 2);
  for (size_t k = 0; k < r->stage_msgs.len; k += 2) {
    if (ints_push2(&w->msgs, (int32_t)(base + r->stage_msgs.p[k]), r->stage_msgs.p[k + 1]) < 0) {
      fail(w, "socket", ENOMEM, req, NULL, "%sout of memory for the replies", "");
      return;
    }
  }
}

static void execute(napi_env env, void *data) {
  (void)env;
  work_t *w = data;
  engine_t *e = w->eng;
  int ns = e->nsock < w->nreq ? e->nsock : w->nreq;
  run_sock_t runs[MAX_SOCKETS];
  struct pollfd pfd[MAX_SOCKETS];
  int pidx[MAX_SOCKETS];
  struct mmsghdr mm[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  memset(runs, 0, sizeof runs);
  for (int i = 0; i < ns; i++) runs[i].req = -1;
  int next = 0;
  /* The kernel builds a dump's first datagram inside our sendmsg() and the next one inside the recvmsg()
   * that reads the previous one, so replies are usually there already: try to read first, and poll() only
   * when a round read nothing. */
  int must_poll = 0;
  for (;;) {
    int active = 0;
    for (int i = 0; i < ns; i++) {
      nsock_t *s = &e->socks[i];
      run_sock_t *r = &runs[i];
      if (r->req < 0 && !w->failed && next < w->nreq && s->fd >= 0 && !s->dirty) {
        r->attempts = 0;
        start_dump(w, s, r, next++);
      }
      if (r->req >= 0) {
        if (w->failed) r->discard = 1;
        pfd[active].fd = s->fd;
        pfd[active].events = POLLIN;
        pfd[active].revents = 0;
        pidx[active++] = i;
      }
    }
    if (active == 0) {
      if (!w->failed && next < w->nreq) fail(w, "socket", EBADF, next, NULL, "%sno usable netlink socket", "");
      break;
    }
    int ready = active;
    if (must_poll) {
      do ready = poll(pfd, (nfds_t)active, w->timeout_ms);
      while (ready < 0 && errno == EINTR);
    } else {
      for (int k = 0; k < active; k++) pfd[k].revents = POLLIN;
    }
    if (ready <= 0) {
      int err = ready < 0 ? errno : 0;
      for (int k = 0; k < active; k++) {
        e->socks[pidx[k]].dirty = 1;
        runs[pidx[k]].req = -1;
      }
      if (ready == 0) {
        char t[24];
        snprintf(t, sizeof t, "%d", w->timeout_ms);
        fail(w, "timeout", 0, -1, NULL, "the kernel sent nothing for %s ms", t);
      } else {
        fail(w, "socket", err, -1, "poll", "waiting for the kernel failed: %s", strerror(err));
      }
      break;
    }
    must_poll = 1;
    for (int k = 0; k < active; k++) {
      if (!pfd[k].revents) continue;
      int i = pidx[k];
      nsock_t *s = &e->socks[i];
      run_sock_t *r = &runs[i];
      uint8_t *area = e->arena + (size_t)i * e->batch * e->recv_bytes;
      for (int b = 0; b < e->batch; b++) {
        iov[b].iov_base = area + (size_t)b * e->recv_bytes;
        iov[b].iov_len = e->recv_bytes;
        memset(&mm[b], 0, sizeof mm[b]);
        mm[b].msg_hdr.msg_iov = &iov[b];
        mm[b].msg_hdr.msg_iovlen = 1;
      }
      int got;
      do got = recvmmsg(s->fd, mm, (unsigned)e->batch, MSG_DONTWAIT, NULL);
      while (got < 0 && errno == EINTR);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
        int err = errno;
        s->dirty = 1;
        int req = r->req;
        r->req = -1;
        fail(w, "socket", err, req, "recvmmsg", "reading the replies failed: %s", strerror(err));
        continue;
      }
      if (got > 0) must_poll = 0;
      for (int b = 0; b < got && r->req >= 0; b++) {
        if (mm[b].msg_hdr.msg_flags & MSG_TRUNC) {
          char t[24];
          snprintf(t, sizeof t, "%d", e->recv_bytes);
          fail(w, "protocol", 0, r->req, NULL, "a reply datagram was larger than the %s-byte buffer", t);
          s->dirty = 1; /* the rest of the dump is still coming */
          r->req = -1;
          break;
        }
        if (take_datagram(w, s, r, iov[b].iov_base, mm[b].msg_len)) end_dump(w, s, r);
      }
    }
  }
  for (int i = 0; i < ns; i++) {
    free(runs[i].stage.p);
    free(runs[i].stage_msgs.p);
  }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The JavaScript side of a call.                                                                       */

#define CHECK(call)                                                                 \
  do {                                                                              \
    if ((call) != napi_ok) {                                                        \
      const napi_extended_error_info *info_;                                        \
      napi_get_last_error_info(env, &info_);                                        \
      napi_throw_error(env, NULL, info_ && info_->error_message ? info_->error_message : #call); \
      return NULL;                                                                  \
    }                                                                               \
  } while (0)

static void free_work(work_t *w) {
  free(w->reqdata);
  free(w->reqoff);
  free(w->reqlen);
  free(w->out.p);
  free(w->msgs.p);
  free(w->ranges);
  free(w);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *val) {
  napi_value v;
  if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

static void set_int(napi_env env, napi_value obj, const char *key, int val) {
  napi_value v;
  if (napi_create_int32(env, val, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

static napi_value make_error(napi_env env, const char *kind, int err, int req, const char *syscall, const char *message, const char *extack) {
  napi_value msg, obj;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &obj);
  set_str(env, obj, "kind", kind);
  if (err) set_int(env, obj, "errno", err);
  if (req >= 0) set_int(env, obj, "request", req);
  if (syscall) set_str(env, obj, "syscall", syscall);
  if (extack && *extack) set_str(env, obj, "extack", extack);
  return obj;
}

static void free_external(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value int32_array(napi_env env, const int32_t *p, size_t n) {
  void *mem;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, n * sizeof(int32_t), &mem, &ab) != napi_ok) return NULL;
  if (n) memcpy(mem, p, n * sizeof(int32_t));
  if (napi_create_typedarray(env, napi_int32_array, n, ab, 0, &arr) != napi_ok) return NULL;
  return arr;
}

static void reopen_dirty(engine_t *e) {
  for (int i = 0; i < e->nsock; i++) {
    nsock_t *s = &e->socks[i];
    if (!s->dirty && s->fd >= 0) continue;
    if (s->fd >= 0) close(s->fd);
    open_socket(s, e->recv_bytes);
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  work_t *w = data;
  engine_t *e = w->eng;
  e->busy = 0;
  if (e->closed) close_sockets(e);
  else reopen_dirty(e); /* here, on the JavaScript thread: the new sockets are in the caller's namespace */
  napi_value result;
  if (status != napi_ok) {
    napi_reject_deferred(env, w->deferred, make_error(env, "closed", 0, -1, NULL, "the dump was cancelled", NULL));
  } else if (w->failed) {
    napi_reject_deferred(env, w->deferred, make_error(env, w->kind, w->err_errno, w->err_req, w->syscall, w->message, w->extack));
  } else {
    napi_value buf, ranges, msgs;
    void *copy;
    napi_create_object(env, &result);
    size_t len = w->out.len;
    if (len && len < w->out.cap) { /* the Buffer keeps this memory as long as any reply view lives */
      uint8_t *fit = realloc(w->out.p, len);
      if (fit) w->out.p = fit;
    }
    if (len == 0 || napi_create_external_buffer(env, len, w->out.p, free_external, NULL, &buf) != napi_ok) {
      napi_create_buffer_copy(env, len, w->out.p, &copy, &buf);
    } else {
      w->out.p = NULL; /* owned by the Buffer now */
    }
    ranges = int32_array(env, w->ranges, (size_t)w->nreq * 2);
    msgs = int32_array(env, w->msgs.p, w->msgs.len);
    napi_set_named_property(env, result, "data", buf);
    if (ranges) napi_set_named_property(env, result, "ranges", ranges);
    if (msgs) napi_set_named_property(env, result, "messages", msgs);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->work);
  napi_delete_reference(env, w->self);
  free_work(w);
}

static engine_t *unwrap(napi_env env, napi_value self) {
  engine_t *e = NULL;
  if (napi_unwrap(env, self, (void **)&e) != napi_ok) return NULL;
  return e;
}

static napi_value rejected(napi_env env, napi_value err) {
  napi_deferred d;
  napi_value p;
  napi_create_promise(env, &d, &p);
  napi_reject_deferred(env, d, err);
  return p;
}

/* dump(type, cmd, version, requests: Uint8Array[], timeoutMs, maxRetries): Promise<{ data, ranges, messages }> */
static napi_value Dump(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  engine_t *e = unwrap(env, self);
  if (!e) {
    napi_throw_type_error(env, NULL, "not an Engine");
    return NULL;
  }
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "dump(type, cmd, version, requests, timeoutMs, maxRetries)");
    return NULL;
  }
  uint32_t type, cmd, version, nreq;
  int32_t timeout_ms, max_retries;
  bool is_array;
  CHECK(napi_get_value_uint32(env, argv[0], &type));
  CHECK(napi_get_value_uint32(env, argv[1], &cmd));
  CHECK(napi_get_value_uint32(env, argv[2], &version));
  CHECK(napi_is_array(env, argv[3], &is_array));
  CHECK(napi_get_value_int32(env, argv[4], &timeout_ms));
  CHECK(napi_get_value_int32(env, argv[5], &max_retries));
  if (!is_array || type > 0xffff || cmd > 0xff || version > 0xff || timeout_ms < 0) {
    napi_throw_range_error(env, NULL, "dump: bad type, cmd, version, requests or timeout");
    return NULL;
  }
  if (e->closed) return rejected(env, make_error(env, "closed", 0, -1, NULL, "the netlink dump engine is closed", NULL));
  if (e->busy) return rejected(env, make_error(env, "busy", EBUSY, -1, NULL, "the netlink dump engine is already running a dump", NULL));
  CHECK(napi_get_array_length(env, argv[3], &nreq));

  work_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->eng = e;
  w->type = (uint16_t)type;
  w->cmd = (uint8_t)cmd;
  w->version = (uint8_t)version;
  w->timeout_ms = timeout_ms;
  w->max_retries = max_retries < 0 ? 0 : max_retries;
  w->nreq = (int)nreq;
  w->err_req = -1;
  w->reqoff = malloc((nreq + 1) * sizeof(uint32_t));
  w->reqlen = malloc((nreq + 1) * sizeof(uint32_t));
  w->ranges = calloc((size_t)nreq * 2 + 1, sizeof(int32_t));
  /* The requests are copied into one block: the thread-pool thread must not touch JavaScript memory. */
  bytes_t all = {0};
  int bad = !w->reqoff || !w->reqlen || !w->ranges;
  for (uint32_t i = 0; i < nreq && !bad; i++) {
    napi_value el;
    bool is_ta;
    napi_typedarray_type tt;
    size_t len;
    void *p;
    if (napi_get_element(env, argv[3], i, &el) != napi_ok || napi_is_typedarray(env, el, &is_ta) != napi_ok || !is_ta ||
        napi_get_typedarray_info(env, el, &tt, &len, &p, NULL, NULL) != napi_ok || tt != napi_uint8_array || len > 65000) {
      bad = 2;
      break;
    }
    if (bytes_reserve(&all, len + 1) < 0) {
      bad = 1;
      break;
    }
    w->reqoff[i] = (uint32_t)all.len;
    w->reqlen[i] = (uint32_t)len;
    if (len) memcpy(all.p + all.len, p, len);
    all.len += len;
  }
  w->reqdata = all.p;
  if (bad) {
    free_work(w);
    if (bad == 2) napi_throw_type_error(env, NULL, "dump: every request must be a Uint8Array of at most 65000 bytes");
    else napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_value promise, name;
  CHECK(napi_create_promise(env, &w->deferred, &promise));
  CHECK(napi_create_reference(env, self, 1, &w->self));
  CHECK(napi_create_string_utf8(env, "lvs_genl.dump", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, w, &w->work));
  e->busy = 1;
  if (napi_queue_async_work(env, w->work) != napi_ok) {
    e->busy = 0;
    napi_delete_async_work(env, w->work);
    napi_delete_reference(env, w->self);
    napi_reject_deferred(env, w->deferred, make_error(env, "socket", 0, -1, NULL, "could not queue the dump", NULL));
    free_work(w);
  }
  return promise;
}

/* close(): the sockets are closed now, or when the running dump completes. */
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value self;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  engine_t *e = unwrap(env, self);
  if (e && !e->closed) {
    e->closed = 1;
    if (!e->busy) close_sockets(e);
  }
  return NULL;
}

/* The sockets' state: [fd >= 0 ? port id : -errno of the failed open] per socket. */
static napi_value Ports(napi_env env, napi_callback_info info) {
  napi_value self, arr;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  engine_t *e = unwrap(env, self);
  CHECK(napi_create_array(env, &arr));
  for (int i = 0; e && i < e->nsock; i++) {
    napi_value v;
    nsock_t *s = &e->socks[i];
    if (s->fd >= 0) napi_create_uint32(env, s->port, &v);
    else napi_create_int32(env, -s->open_errno, &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  return arr;
}

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_t *e = data;
  close_sockets(e);
  free(e->arena);
  free(e);
}

/* new Engine(sockets, recvBytes, batch): opens the sockets now, in the calling thread's network namespace. */
static napi_value New(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self, target;
  CHECK(napi_get_new_target(env, info, &target));
  if (!target) {
    napi_throw_type_error(env, NULL, "Engine must be called with new");
    return NULL;
  }
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int32_t nsock = 4, recv_bytes = 32768, batch = 4;
  if (argc > 0) CHECK(napi_get_value_int32(env, argv[0], &nsock));
  if (argc > 1) CHECK(napi_get_value_int32(env, argv[1], &recv_bytes));
  if (argc > 2) CHECK(napi_get_value_int32(env, argv[2], &batch));
  if (nsock < 1 || nsock > MAX_SOCKETS || recv_bytes < 4096 || recv_bytes > (1 << 20) || batch < 1 || batch > MAX_BATCH) {
    napi_throw_range_error(env, NULL, "Engine(sockets 1..64, recvBytes 4096..1048576, batch 1..64)");
    return NULL;
  }
  engine_t *e = calloc(1, sizeof *e);
  if (!e) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  e->nsock = nsock;
  e->recv_bytes = recv_bytes;
  e->batch = batch;
  e->arena = malloc((size_t)nsock * batch * recv_bytes);
  if (!e->arena) {
    free(e);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (int i = 0; i < nsock; i++) {
    if (open_socket(&e->socks[i], recv_bytes) < 0) {
      int err = e->socks[i].open_errno;
      close_sockets(e);
      free(e->arena);
      free(e);
      napi_value er = make_error(env, err == EPERM || err == EACCES ? "permission" : "socket", err, -1, "socket", "could not open a NETLINK_GENERIC socket", NULL);
      napi_throw(env, er);
      return NULL;
    }
  }
  CHECK(napi_wrap(env, self, e, finalize_engine, NULL, NULL));
  return self;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"dump", NULL, Dump, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"ports", NULL, Ports, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  if (napi_define_class(env, "Engine", NAPI_AUTO_LENGTH, New, NULL, 3, methods, &cls) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "Engine", cls) != napi_ok) return NULL;
  return exports;
}

/*
 * A WebSocket load generator for bench/relay_compare.ts: many client sockets
 * driven from one thread with epoll, at a small fraction of the CPU a
 * WebSocket client in Deno spends per message, so that on a 2-core machine
 * the relay under test, not the load generator, is what runs out of CPU.
 *
 * It knows nothing of any relay: the bench writes it a script on stdin (the
 * HTTP upgrade request of every connection, each pair's set-up steps, each
 * socket's traffic frame templates) and reads one JSON line of results on
 * stdout. Client frames are masked with a zero key (RFC 6455 5.3: the
 * payload is XORed with 0, i.e. sent as it is; a server unmasks it all the
 * same). Each message carries its send time (CLOCK_MONOTONIC, µs, 16 digits
 * between "~t" and "~"), read back on receipt for latency.
 *
 * Script (numbers in decimal, each "<len>\n" followed by exactly len bytes):
 *   H <host> <port> <server pid> <connections> <pairs> <pairs at once>\n
 *   R <msg/s per socket> <warm-up s> <measured s> <idle s> <heartbeat ms>\n
 *   B <len>\n<heartbeat frame text>          (len 0: no heartbeats)
 *   C <len>\n<HTTP upgrade request>          (one per connection, in order)
 *   P <steps>\n then per step one of:        (one per pair)
 *     O <conn>\n                             open it (handshake done)
 *     S <conn> <len>\n<text>                 send a text frame
 *     W <conn> <len>\n<text>                 wait for a frame containing text
 *   T <conn> <small head> <small tail> <big head> <big tail>\n<bytes>
 *                                            (traffic sockets, in order)
 *   E\n
 * Every fifth message of a socket is its big frame (an SDP), the others its
 * small one (a candidate).
 *
 * Build: cc -O2 -o wsload bench/wsload.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  char *p;
  size_t n, cap;
} buf_t;

static void buf_add(buf_t *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->n + n) c *= 2;
    b->p = realloc(b->p, c);
    if (!b->p) abort();
    b->cap = c;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void buf_drop(buf_t *b, size_t n) {
  memmove(b->p, b->p + n, b->n - n);
  b->n -= n;
}

enum { CLOSED, CONNECTING, UPGRADING, OPEN };

typedef struct {
  int fd, state;
  char *req;
  size_t req_n;
  buf_t in, out, seen;
  size_t cursor; /* how much of `seen` set-up waits have consumed */
  int want_out;
} conn_t;

typedef struct {
  char kind;
  int conn;
  char *text;
  size_t n;
} step_t;

typedef struct {
  step_t *steps;
  int n, at;
  int started;
} pair_t;

typedef struct {
  int conn;
  char *sh, *st, *bh, *bt;
  size_t shn, stn, bhn, btn;
} traffic_t;

static conn_t *conns;
static int nconns, npairs, width, ntraffic;
static pair_t *pairs;
static traffic_t *traffic;
static int ep;
static struct sockaddr_in addr;
static char *hb;
static size_t hbn;
static int closed_count;

static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static double cpu_of(int pid) {
  char path[64], s[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(s, 1, sizeof s - 1, f);
  fclose(f);
  s[n] = 0;
  char *p = strrchr(s, ')');
  if (!p) return 0;
  /* after ") ": state is field 3; utime 14, stime 15 */
  unsigned long long ut = 0, st = 0;
  int field = 2;
  for (char *q = p + 1; *q && field < 15; q++) {
    if (*q == ' ') {
      field++;
      if (field == 14) ut = strtoull(q + 1, NULL, 10);
      if (field == 15) st = strtoull(q + 1, NULL, 10);
    }
  }
  return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static double cpu_self(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
         r.ru_stime.tv_usec / 1e6;
}

static void die(const char *m) {
  fprintf(stderr, "wsload: %s (%s)\n", m, strerror(errno));
  exit(2);
}

static void arm(conn_t *c, int i) {
  struct epoll_event e = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0),
                          .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl");
}

static void close_conn(int i) {
  conn_t *c = &conns[i];
  if (c->state == CLOSED) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = CLOSED;
  closed_count++;
}

static void flush_out(int i) {
  conn_t *c = &conns[i];
  while (c->out.n) {
    ssize_t w = write(c->fd, c->out.p, c->out.n);
    if (w < 0) {
      if (errno == EAGAIN) break;
      close_conn(i);
      return;
    }
    buf_drop(&c->out, (size_t)w);
  }
  int want = c->out.n > 0;
  if (want != c->want_out) {
    c->want_out = want;
    arm(c, i);
  }
}

/* One masked text frame (zero key) of `head`, [time marker,] `tail`. */
static void send_frame(int i, const char *head, size_t hn, const char *tail,
                       size_t tn, int64_t stamp) {
  conn_t *c = &conns[i];
  if (c->state != OPEN) return;
  char mark[24];
  size_t mn = 0;
  if (stamp >= 0) mn = (size_t)snprintf(mark, sizeof mark, "~t%016lld~",
                                         (long long)stamp);
  size_t len = hn + mn + tn;
  uint8_t h[14];
  size_t k = 0;
  h[k++] = 0x81;
  if (len < 126) {
    h[k++] = 0x80 | (uint8_t)len;
  } else if (len < 65536) {
    h[k++] = 0x80 | 126;
    h[k++] = (uint8_t)(len >> 8);
    h[k++] = (uint8_t)len;
  } else {
    h[k++] = 0x80 | 127;
    for (int s = 56; s >= 0; s -= 8) h[k++] = (uint8_t)((uint64_t)len >> s);
  }
  memset(h + k, 0, 4);
  k += 4;
  int direct = c->out.n == 0;
  buf_add(&c->out, h, k);
  buf_add(&c->out, head, hn);
  buf_add(&c->out, mark, mn);
  buf_add(&c->out, tail, tn);
  if (direct) flush_out(i);
}

/* Results of the measured window. */
static int measuring;
static int64_t win_start, win_end = INT64_MAX;
static long long sent_in, got_in;
static int64_t last_got;
static uint32_t *lat;
static size_t lat_n, lat_cap;
static int setup_done;

static void on_text(int i, const char *p, size_t n) {
  conn_t *c = &conns[i];
  if (!setup_done) buf_add(&c->seen, p, n);
  const char *m = memmem(p, n, "~t", 2);
  if (!m || (size_t)(p + n - m) < 18) return;
  int64_t t0 = strtoll(m + 2, NULL, 10);
  if (measuring && t0 >= win_start && t0 < win_end) {
    got_in++;
    if (lat_n == lat_cap) {
      lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
      lat = realloc(lat, lat_cap * sizeof *lat);
      if (!lat) abort();
    }
    last_got = now_us();
    lat[lat_n++] = (uint32_t)(last_got - t0);
  }
}

static void on_readable(int i) {
  conn_t *c = &conns[i];
  for (;;) {
    char tmp[65536];
    ssize_t r = read(c->fd, tmp, sizeof tmp);
    if (r == 0) return close_conn(i);
    if (r < 0) {
      if (errno == EAGAIN) break;
      return close_conn(i);
    }
    buf_add(&c->in, tmp, (size_t)r);
    if ((size_t)r < sizeof tmp) break;
  }
  if (c->state == UPGRADING) {
    char *end = memmem(c->in.p, c->in.n, "\r\n\r\n", 4);
    if (!end) return;
    if (c->in.n < 12 || memcmp(c->in.p + 9, "101", 3) != 0) {
      fprintf(stderr, "wsload: connection %d refused: %.*s\n", i,
              (int)(end - c->in.p), c->in.p);
      return close_conn(i);
    }
    buf_drop(&c->in, (size_t)(end + 4 - c->in.p));
    c->state = OPEN;
  }
  size_t at = 0;
  while (c->in.n - at >= 2) {
    uint8_t *f = (uint8_t *)c->in.p + at;
    size_t avail = c->in.n - at, hl = 2;
    uint64_t len = f[1] & 0x7f;
    if (len == 126) {
      if (avail < 4) break;
      len = ((uint64_t)f[2] << 8) | f[3];
      hl = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int k = 0; k < 8; k++) len = (len << 8) | f[2 + k];
      hl = 10;
    }
    if (avail < hl + len) break;
    int op = f[0] & 0x0f;
    if (op == 1) on_text(i, (char *)f + hl, (size_t)len);
    if (op == 8) {
      close_conn(i);
      return;
    }
    at += hl + (size_t)len;
  }
  if (at) buf_drop(&c->in, at);
}

static void start_connect(int i) {
  conn_t *c = &conns[i];
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 &&
      errno != EINPROGRESS)
    die("connect");
  c->state = CONNECTING;
  c->want_out = 1;
  struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0) die("epoll_ctl add");
}

static void on_writable(int i) {
  conn_t *c = &conns[i];
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      errno = err;
      die("connect failed");
    }
    c->state = UPGRADING;
    buf_add(&c->out, c->req, c->req_n);
  }
  flush_out(i);
}

static void poll_once(int timeout_ms) {
  struct epoll_event ev[512];
  int n = epoll_wait(ep, ev, 512, timeout_ms);
  for (int k = 0; k < n; k++) {
    int i = (int)ev[k].data.u32;
    if (conns[i].state == CLOSED) continue;
    if (ev[k].events & EPOLLOUT) on_writable(i);
    if (conns[i].state == CLOSED) continue;
    if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(i);
  }
}

/* Runs a pair's steps as far as they go now; 1 once all are done. */
static int advance(pair_t *p) {
  while (p->at < p->n) {
    step_t *s = &p->steps[p->at];
    conn_t *c = &conns[s->conn];
    if (s->kind == 'O') {
      if (c->state == CLOSED && !c->fd) start_connect(s->conn);
      if (c->state != OPEN) {
        if (c->state == CLOSED) {
          fprintf(stderr, "wsload: connection %d closed in set-up\n", s->conn);
          exit(3);
        }
        return 0;
      }
    } else if (s->kind == 'S') {
      send_frame(s->conn, s->text, s->n, "", 0, -1);
    } else {
      if (c->state == CLOSED) {
        fprintf(stderr, "wsload: connection %d closed waiting for %.*s\n",
                s->conn, (int)s->n, s->text);
        exit(3);
      }
      char *m = memmem(c->seen.p + c->cursor, c->seen.n - c->cursor, s->text,
                       s->n);
      if (!m) return 0;
      c->cursor = (size_t)(m - c->seen.p) + s->n;
    }
    p->at++;
  }
  return 1;
}

static void heartbeat_all(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == OPEN) send_frame(i, hb, hbn, "", 0, -1);
}

static char *read_bytes(size_t n) {
  char *p = malloc(n + 1);
  if (!p || fread(p, 1, n, stdin) != n) die("short script");
  p[n] = 0;
  return p;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int main(void) {
  char host[64];
  int port, pid;
  double rate, warmup, seconds, idle, hb_ms;
  if (scanf(" H %63s %d %d %d %d %d", host, &port, &pid, &nconns, &npairs,
            &width) != 6)
    die("bad H line");
  if (scanf(" R %lf %lf %lf %lf %lf", &rate, &warmup, &seconds, &idle,
            &hb_ms) != 5)
    die("bad R line");
  if (scanf(" B %zu", &hbn) != 1 || getchar() != '\n') die("bad B line");
  hb = read_bytes(hbn);
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) {
    size_t n;
    if (scanf(" C %zu", &n) != 1 || getchar() != '\n') die("bad C line");
    conns[i].req = read_bytes(n);
    conns[i].req_n = n;
    conns[i].state = CLOSED;
  }
  pairs = calloc((size_t)npairs, sizeof *pairs);
  for (int i = 0; i < npairs; i++) {
    int n;
    if (scanf(" P %d", &n) != 1) die("bad P line");
    pairs[i].n = n;
    pairs[i].steps = calloc((size_t)n, sizeof(step_t));
    for (int k = 0; k < n; k++) {
      step_t *s = &pairs[i].steps[k];
      if (scanf(" %c %d", &s->kind, &s->conn) != 2) die("bad step");
      if (s->kind == 'S' || s->kind == 'W') {
        if (scanf(" %zu", &s->n) != 1 || getchar() != '\n') die("bad step");
        s->text = read_bytes(s->n);
      }
    }
  }
  traffic = calloc((size_t)nconns, sizeof *traffic);
  for (;;) {
    char k;
    if (scanf(" %c", &k) != 1) die("no E line");
    if (k == 'E') break;
    traffic_t *t = &traffic[ntraffic++];
    if (scanf(" %d %zu %zu %zu %zu", &t->conn, &t->shn, &t->stn, &t->bhn,
              &t->btn) != 5 ||
        getchar() != '\n')
      die("bad T line");
    t->sh = read_bytes(t->shn);
    t->st = read_bytes(t->stn);
    t->bh = read_bytes(t->bhn);
    t->bt = read_bytes(t->btn);
  }

  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("bad host");
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");

  /* Set-up: `width` pairs at a time, heartbeats meanwhile. */
  int64_t t_setup = now_us(), next_hb = t_setup + (int64_t)(hb_ms * 1000);
  int next_pair = 0, done = 0, active = 0;
  while (done < npairs) {
    while (active < width && next_pair < npairs) {
      pairs[next_pair++].started = 1;
      active++;
    }
    for (int i = 0; i < next_pair; i++) {
      pair_t *p = &pairs[i];
      if (p->started == 1 && advance(p)) {
        p->started = 2;
        done++;
        active--;
      }
    }
    if (hbn && now_us() >= next_hb) {
      heartbeat_all();
      next_hb += (int64_t)(hb_ms * 1000);
    }
    if (done < npairs) poll_once(5);
  }
  setup_done = 1;
  for (int i = 0; i < nconns; i++) {
    free(conns[i].seen.p);
    conns[i].seen = (buf_t){0};
  }
  fprintf(stderr, "wsload: %d pairs set up in %.1f s\n", npairs,
          (now_us() - t_setup) / 1e6);

  /* Idle: sockets open and silent; what the server spends on its own. */
  double idle_share = 0;
  if (idle > 0) {
    double c0 = cpu_of(pid);
    int64_t t0 = now_us(), until = t0 + (int64_t)(idle * 1e6);
    while (now_us() < until) poll_once(50);
    idle_share = (cpu_of(pid) - c0) / ((now_us() - t0) / 1e6);
  }

  /* Traffic. */
  double total = rate * ntraffic;
  int64_t start = now_us();
  int64_t stop_at = start + (int64_t)((warmup + seconds) * 1e6);
  long long sent = 0, k = 0;
  double cpu0 = 0, self0 = 0;
  for (;;) {
    int64_t t = now_us();
    if (!measuring && t - start >= (int64_t)(warmup * 1e6)) {
      measuring = 1;
      win_start = t;
      cpu0 = cpu_of(pid);
      self0 = cpu_self();
    }
    if (t >= stop_at) {
      win_end = t;
      break;
    }
    long long due = (long long)((t - start) / 1e6 * total);
    /* Fallen behind: at most 50 ms of traffic at once (the rest skipped). */
    if (due - sent > total * 0.05) sent = due - (long long)(total * 0.05);
    for (; sent < due; sent++, k++) {
      traffic_t *tr = &traffic[k % ntraffic];
      if (conns[tr->conn].state != OPEN) continue;
      int big = (k / ntraffic) % 5 == 0;
      if (big)
        send_frame(tr->conn, tr->bh, tr->bhn, tr->bt, tr->btn, now_us());
      else
        send_frame(tr->conn, tr->sh, tr->shn, tr->st, tr->stn, now_us());
      if (measuring) sent_in++;
    }
    poll_once(1);
  }
  /* What was sent in the window: waited for, 3 s at most. */
  int64_t wait_until = now_us() + 3000000;
  while (got_in < sent_in && now_us() < wait_until) poll_once(5);
  double cpu = cpu_of(pid) - cpu0, self = cpu_self() - self0;
  double wall = (now_us() - win_start) / 1e6;
  double elapsed = (win_end - win_start) / 1e6;
  qsort(lat, lat_n, sizeof *lat, cmp_u32);
#define Q(p) (lat_n ? lat[(size_t)((p) * (lat_n - 1))] / 1000.0 : -1.0)
  printf("{\"offered\":%.0f,\"sent\":%lld,\"delivered\":%lld,\"closed\":%d,"
         "\"elapsed\":%.4f,\"delivering\":%.4f,\"wall\":%.4f,\"serverCpu\":%.4f,\"clientCpu\":%.4f,"
         "\"idleShare\":%.5f,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}\n",
         total * elapsed, sent_in, got_in, closed_count, elapsed,
         (last_got > win_start ? last_got - win_start : 1) / 1e6, wall, cpu,
         self, idle_share, Q(0.5), Q(0.99), Q(1.0));
  fflush(stdout);
  return 0;
}

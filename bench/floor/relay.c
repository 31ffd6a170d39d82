/* The cheapest possible gossip hop, to measure what this machine charges per message.
 *
 *   relay --source PORT COUNT RATE   send COUNT 10 KB frames to PORT, RATE per second
 *   relay LISTEN_PORT [OUT_PORT...]  accept one connection, read frames, write each to every
 *                                    OUT_PORT; print the CPU per frame when the input closes
 *
 * No framing, no protocol, no crypto, no allocation: one epoll wake-up, one read loop and one
 * write per copy. Whatever a real peer spends beyond this is its own. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME 10240
#define MAX_OUT 16

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int dial(int port) {
  int one = 1;
  struct sockaddr_in a = loopback(port);
  for (int tries = 0; tries < 500; tries++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    close(fd);
    usleep(10000);
  }
  return -1;
}

static int read_frame(int fd, char *buf) {
  int got = 0;
  while (got < FRAME) {
    ssize_t r = read(fd, buf + got, FRAME - got);
    if (r <= 0) return -1;
    got += (int)r;
  }
  return 0;
}

static int write_all(int fd, const char *buf) {
  int sent = 0;
  while (sent < FRAME) {
    ssize_t w = write(fd, buf + sent, FRAME - sent);
    if (w <= 0) return -1;
    sent += (int)w;
  }
  return 0;
}

static double cpu_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int source(int port, long count, double rate) {
  static char buf[FRAME];
  int fd = dial(port);
  if (fd < 0) {
    perror("dial");
    return 1;
  }
  memset(buf, 7, sizeof buf);
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (long i = 0; i < count; i++) {
    if (write_all(fd, buf) != 0) return 1;
    long step = (long)(1e9 / rate);
    next.tv_nsec += step;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  static char buf[FRAME];
  int one = 1, outs[MAX_OUT], n_out = 0;
  if (argc >= 5 && strcmp(argv[1], "--source") == 0)
    return source(atoi(argv[2]), atol(argv[3]), atof(argv[4]));
  if (argc < 2 || argc - 2 > MAX_OUT) {
    fprintf(stderr, "usage: relay --source PORT COUNT RATE | relay LISTEN_PORT [OUT_PORT...]\n");
    return 2;
  }
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(atoi(argv[1]));
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 4) != 0) {
    perror("listen");
    return 1;
  }
  for (int i = 2; i < argc; i++) {
    outs[n_out] = dial(atoi(argv[i]));
    if (outs[n_out++] < 0) {
      perror("dial");
      return 1;
    }
  }
  int in = accept(ls, NULL, NULL);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = in};
  epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev);
  long frames = 0;
  double first = 0;
  for (;;) {
    struct epoll_event e;
    if (epoll_wait(ep, &e, 1, -1) <= 0) continue;
    if (read_frame(in, buf) != 0) break;
    if (frames++ == 0) first = cpu_us();  /* start-up excluded */
    for (int i = 0; i < n_out; i++)
      if (write_all(outs[i], buf) != 0) return 1;
  }
  double per = frames > 1 ? (cpu_us() - first) / (double)(frames - 1) : 0;
  printf("{\"port\": %s, \"copies_out\": %d, \"frames\": %ld, \"cpu_us_per_frame\": %.1f}\n",
         argv[1], n_out, frames, per);
  return 0;
}

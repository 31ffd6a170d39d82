/*
 * fg_distribute_private_data from a C host: `privdata_check` (no arguments).
 *
 * Two peers of Org1MSP on loopback: this process and a forked child (the library holds one
 * service per process; the fork comes before either starts it). Both join a channel; this
 * peer distributes a private write set of its org's implicit collection with
 * implicitCollectionDisseminationPolicy requiredPeerCount 1, so FG_STATUS_OK means the child
 * acked; the child checks that it stored the write set. Then the refusals: every bad argument
 * gets its status and a sentence in err_out, and nothing is written to result_out.
 * Exits 0 when every check holds; prints each failed check.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fabgossip.h"

static int failures = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      failures++;                                          \
    }                                                      \
  } while (0)

static const char CHANNEL[] = "pvtchannel";
static const char JOIN[] = "{\"sequence\":1,\"members\":[\"Org1MSP\"]}";

/* A loopback port that was free a moment ago. */
static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int port = 0;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (s >= 0) close(s);
  return port;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Config text of one Org1 peer on `port` bootstrapping from `boot`, identity from `seed`. */
static void config(char *out, size_t cap, const char *dir, int port, int boot, char seed) {
  char seed_hex[65];
  memset(seed_hex, seed, 64);
  seed_hex[64] = '\0';
  snprintf(out, cap,
           "peer:\n"
           "  id: c-%d\n"
           "  localMspId: Org1MSP\n"
           "  listenAddress: 127.0.0.1:%d\n"
           "  address: 127.0.0.1:%d\n"
           "  fileSystemPath: %s\n"
           "  gossip:\n"
           "    bootstrap: 127.0.0.1:%d\n"
           "    externalEndpoint: 127.0.0.1:%d\n"
           "    aliveTimeInterval: 500ms\n"
           "    reconnectInterval: 1s\n"
           "    publishStateInfoInterval: 500ms\n"
           "    requestStateInfoInterval: 500ms\n"
           "    pvtData:\n"
           "      pushAckTimeout: 10s\n"
           "      implicitCollectionDisseminationPolicy:\n"
           "        requiredPeerCount: 1\n"
           "        maxPeerCount: 1\n"
           "fabgossip:\n"
           "  trustedOrgs: [Org1MSP]\n"
           "  identitySeed: '%s'\n",
           port, port, port, dir, boot, port, seed_hex);
}

static fg_status init(const char *text) {
  fg_bytes err = {NULL, 0};
  fg_status st = fg_init(text, strlen(text), NULL, &err);
  if (st != FG_STATUS_OK) fprintf(stderr, "fg_init: %.*s\n", (int)err.len, (const char *)err.ptr);
  fg_bytes_free(&err);
  return st;
}

static fg_status join(void) {
  fg_bytes err = {NULL, 0};
  fg_status st = fg_join_channel(CHANNEL, strlen(CHANNEL), JOIN, strlen(JOIN), &err);
  fg_bytes_free(&err);
  return st;
}

/* Appends protobuf field `num` (length-delimited) to buf at *n. */
static void field(uint8_t *buf, size_t *n, unsigned num, const void *data, size_t len) {
  buf[(*n)++] = (uint8_t)(num << 3 | 2);
  buf[(*n)++] = (uint8_t)len; /* every part here is shorter than 128 bytes */
  memcpy(buf + *n, data, len);
  *n += len;
}

/* A TxPvtReadWriteSetWithConfigInfo: namespace "mycc", collection `coll`, one write. */
static size_t pvt_data(uint8_t *out, const char *coll) {
  uint8_t write[32], kvrwset[40], col[96], ns[120], tx[124];
  size_t nw = 0, nk = 0, nc = 0, nn = 0, nt = 0, n = 0;
  field(write, &nw, 1, "k", 1);
  field(write, &nw, 3, "private value", 13);
  field(kvrwset, &nk, 3, write, nw); /* KVRWSet.writes */
  field(col, &nc, 1, coll, strlen(coll));
  field(col, &nc, 2, kvrwset, nk);
  field(ns, &nn, 1, "mycc", 4);
  field(ns, &nn, 2, col, nc);
  field(tx, &nt, 2, ns, nn); /* TxPvtReadWriteSet.ns_pvt_rwset */
  out[n++] = 0x08;           /* endorsed_at = 7 */
  out[n++] = 7;
  field(out, &n, 2, tx, nt);
  return n;
}

static int contains(const fg_bytes *b, const char *needle) {
  size_t len = strlen(needle), i;
  for (i = 0; b->ptr != NULL && i + len <= b->len; i++) {
    if (memcmp(b->ptr + i, needle, len) == 0) return 1;
  }
  return 0;
}

/* The child peer: joins, waits for the parent to close the pipe, then checks it stored. */
static int child_main(int done_fd, const char *dir, int port, int boot) {
  char text[2048];
  char byte;
  fg_bytes metrics = {NULL, 0};
  int stored;
  config(text, sizeof text, dir, port, boot, '6');
  if (init(text) != FG_STATUS_OK || join() != FG_STATUS_OK) return 2;
  while (read(done_fd, &byte, 1) > 0) {
  }
  if (fg_metrics(&metrics) != FG_STATUS_OK) return 3;
  stored = contains(&metrics,
                    "fabgossip_privdata_received{channel=\"pvtchannel\",result=\"stored\"} 1");
  fg_bytes_free(&metrics);
  fg_shutdown();
  return stored ? 0 : 4;
}

static void refusals(const uint8_t *data, size_t len) {
  fg_bytes out = {NULL, 0}, err = {NULL, 0};
  fg_status st;
  static const char garbage[] = "\xff\x01";
  static const char tx[] = "tx-bad";

  st = fg_distribute_private_data(NULL, 0, tx, strlen(tx), data, len, 1, &out, &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "channel"), "NULL channel: %d", st);
  fg_bytes_free(&err);
  st = fg_distribute_private_data("Bad/Name", 8, tx, strlen(tx), data, len, 1, &out, &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "channel name"), "bad channel: %d", st);
  fg_bytes_free(&err);
  st = fg_distribute_private_data(CHANNEL, strlen(CHANNEL), tx, 0, data, len, 1, &out, &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "tx_id"), "empty tx id: %d", st);
  fg_bytes_free(&err);
  st = fg_distribute_private_data(CHANNEL, strlen(CHANNEL), tx, strlen(tx), NULL, 0, 1, &out,
                                  &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "pvt_data"), "NULL data: %d", st);
  fg_bytes_free(&err);
  st = fg_distribute_private_data(CHANNEL, strlen(CHANNEL), tx, strlen(tx), data, len, 1, NULL,
                                  &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "result_out"), "NULL result_out: %d", st);
  fg_bytes_free(&err);
  st = fg_distribute_private_data(CHANNEL, strlen(CHANNEL), tx, strlen(tx),
                                  (const uint8_t *)garbage, 2, 1, &out, &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "TxPvtReadWriteSetWithConfigInfo"),
        "undecodable data: %d", st);
  fg_bytes_free(&err);
  st = fg_distribute_private_data("other", 5, tx, strlen(tx), data, len, 1, &out, &err);
  CHECK(st == FG_STATUS_NOT_FOUND && contains(&err, "not joined"), "unknown channel: %d", st);
  fg_bytes_free(&err);
  /* NULL err_out is allowed: the status alone. */
  st = fg_distribute_private_data("other", 5, tx, strlen(tx), data, len, 1, &out, NULL);
  CHECK(st == FG_STATUS_NOT_FOUND, "unknown channel, no err_out: %d", st);
  CHECK(out.ptr == NULL && out.len == 0, "result_out written on a refusal");

  st = fg_set_collection_config(CHANNEL, strlen(CHANNEL), "mycc", 4, (const uint8_t *)garbage, 2,
                                &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "CollectionConfigPackage"),
        "undecodable package: %d", st);
  fg_bytes_free(&err);
  st = fg_set_collection_config(CHANNEL, strlen(CHANNEL), NULL, 0, NULL, 0, &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "namespace"), "NULL namespace: %d", st);
  fg_bytes_free(&err);
  st = fg_explain_private_data(CHANNEL, strlen(CHANNEL), "mycc", 4, "c", 1, "127.0.0.1:1", 11, 0,
                               NULL, &err);
  CHECK(st == FG_STATUS_INVALID_ARG && contains(&err, "out_json"), "NULL out_json: %d", st);
  fg_bytes_free(&err);
}

int main(void) {
  char dir[] = "/tmp/fg-privdata-XXXXXX";
  char self_dir[64], child_dir[64], text[2048];
  uint8_t data[256];
  size_t len = pvt_data(data, "_implicit_org_Org1MSP");
  int self_port = free_port(), child_port = free_port();
  int done[2];
  pid_t child;
  int status = 0, i, seen = 0;
  fg_bytes out = {NULL, 0}, err = {NULL, 0};
  fg_status st;
  char endpoint[64];

  if (mkdtemp(dir) == NULL || pipe(done) != 0 || self_port == 0 || child_port == 0) {
    perror("setup");
    return 1;
  }
  snprintf(self_dir, sizeof self_dir, "%s/self", dir);
  snprintf(child_dir, sizeof child_dir, "%s/child", dir);

  child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    close(done[1]);
    _exit(child_main(done[0], child_dir, child_port, self_port));
  }
  close(done[0]);

  /* No library call before the fork: the child must not inherit a half-started library. */
  st = fg_distribute_private_data(CHANNEL, strlen(CHANNEL), "tx", 2, data, len, 1, &out, &err);
  CHECK(st == FG_STATUS_NOT_INITIALIZED && contains(&err, "fg_init"), "before init: %d", st);
  fg_bytes_free(&err);

  config(text, sizeof text, self_dir, self_port, child_port, '5');
  CHECK(init(text) == FG_STATUS_OK, "fg_init");
  CHECK(join() == FG_STATUS_OK, "join");
  snprintf(endpoint, sizeof endpoint, "\"endpoint\":\"127.0.0.1:%d\"", child_port);
  for (i = 0; i < 1200 && !seen; i++) { /* up to 60 s */
    fg_bytes peers = {NULL, 0};
    if (fg_peers_of_channel(CHANNEL, strlen(CHANNEL), &peers) == FG_STATUS_OK) {
      seen = contains(&peers, endpoint);
    }
    fg_bytes_free(&peers);
    if (!seen) sleep_ms(50);
  }
  CHECK(seen, "the child never appeared in the channel");

  /* requiredPeerCount 1 of the own implicit collection: OK only when the child acked. */
  st = fg_distribute_private_data(CHANNEL, strlen(CHANNEL), "tx1", 3, data, len, 1, &out, &err);
  CHECK(st == FG_STATUS_OK, "distribute: %d %.*s", st, (int)err.len, (const char *)err.ptr);
  CHECK(contains(&out, "\"result\":\"acked\"") && contains(&out, "\"required_met\":true"),
        "report: %.*s", (int)out.len, (const char *)out.ptr);
  CHECK(err.ptr == NULL, "err_out written on success");
  fg_bytes_free(&out);
  fg_bytes_free(&err);

  refusals(data, len);

  close(done[1]);
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "child peer: status %d (2: no start, 3: no metrics, 4: nothing stored)",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  CHECK(fg_shutdown() == FG_STATUS_OK, "fg_shutdown");
  snprintf(text, sizeof text, "rm -rf '%s'", dir);
  if (system(text) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures == 0) printf("privdata_check: ok\n");
  return failures == 0 ? 0 : 1;
}

/* In-memory ledger for the C peer: see memory_ledger.h. */
#define _POSIX_C_SOURCE 200809L

#include "memory_ledger.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHANNELS 64
#define MAX_NAME 256

struct channel {
  char name[MAX_NAME];
  size_t name_len;
  uint8_t **blocks;
  size_t *lens;
  uint64_t height, cap;
  int watched;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct channel channels[MAX_CHANNELS];
static size_t n_channels;
static memory_ledger_committed_fn committed;

/* The channel named (name, len), created when `create`; NULL when absent or no room. Call
 * with the lock held. */
static struct channel *find(const uint8_t *name, size_t len, int create) {
  size_t i;
  for (i = 0; i < n_channels; i++) {
    if (channels[i].name_len == len && memcmp(channels[i].name, name, len) == 0)
      return &channels[i];
  }
  if (!create || n_channels == MAX_CHANNELS || len >= MAX_NAME) return NULL;
  memcpy(channels[n_channels].name, name, len);
  channels[n_channels].name_len = len;
  return &channels[n_channels++];
}

static fg_status height(void *user_data, const uint8_t *channel, size_t channel_len,
                        uint64_t *out_height) {
  struct channel *c;
  (void)user_data;
  pthread_mutex_lock(&lock);
  c = find(channel, channel_len, 0);
  *out_height = c != NULL ? c->height : 0;
  pthread_mutex_unlock(&lock);
  return FG_STATUS_OK;
}

static fg_status commit(void *user_data, const uint8_t *channel, size_t channel_len, uint64_t seq,
                        const uint8_t *block, size_t block_len, const fg_slice *private_data,
                        size_t private_data_count) {
  struct channel *c;
  uint8_t *copy;
  int report;
  struct timespec now;
  (void)user_data;
  (void)private_data;
  (void)private_data_count;
  copy = malloc(block_len > 0 ? block_len : 1);
  if (copy == NULL) return FG_STATUS_IO;
  memcpy(copy, block, block_len);
  pthread_mutex_lock(&lock);
  c = find(channel, channel_len, 1);
  if (c == NULL || seq != c->height) {
    pthread_mutex_unlock(&lock);
    free(copy);
    return FG_STATUS_INVALID_ARG;
  }
  if (c->height == c->cap) {
    uint64_t cap = c->cap ? c->cap * 2 : 1024;
    uint8_t **blocks = realloc(c->blocks, cap * sizeof *blocks);
    size_t *lens = blocks != NULL ? realloc(c->lens, cap * sizeof *lens) : NULL;
    if (blocks != NULL) c->blocks = blocks;
    if (lens == NULL) {
      pthread_mutex_unlock(&lock);
      free(copy);
      return FG_STATUS_IO;
    }
    c->lens = lens;
    c->cap = cap;
  }
  c->blocks[c->height] = copy;
  c->lens[c->height++] = block_len;
  report = c->watched && committed != NULL;
  pthread_mutex_unlock(&lock);
  if (report) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    committed((const char *)channel, channel_len, (unsigned long long)seq,
              (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
  }
  return FG_STATUS_OK;
}

static fg_status get_block(void *user_data, const uint8_t *channel, size_t channel_len,
                           uint64_t seq, uint8_t *out, size_t cap, size_t *out_len) {
  struct channel *c;
  fg_status st = FG_STATUS_OK;
  (void)user_data;
  pthread_mutex_lock(&lock);
  c = find(channel, channel_len, 0);
  if (c == NULL || seq >= c->height) {
    st = FG_STATUS_NOT_FOUND;
  } else {
    *out_len = c->lens[seq];
    if (cap < c->lens[seq])
      st = FG_STATUS_BUFFER_TOO_SMALL;
    else
      memcpy(out, c->blocks[seq], c->lens[seq]);
  }
  pthread_mutex_unlock(&lock);
  return st;
}

/* The library is done with the ledger (fg_shutdown): every block is freed. */
static void release(void *user_data) {
  size_t i;
  uint64_t b;
  (void)user_data;
  pthread_mutex_lock(&lock);
  for (i = 0; i < n_channels; i++) {
    for (b = 0; b < channels[i].height; b++) free(channels[i].blocks[b]);
    free(channels[i].blocks);
    free(channels[i].lens);
  }
  memset(channels, 0, sizeof channels);
  n_channels = 0;
  pthread_mutex_unlock(&lock);
}

fg_ledger_callbacks memory_ledger_callbacks(memory_ledger_committed_fn on_commit) {
  fg_ledger_callbacks cb;
  committed = on_commit;
  memset(&cb, 0, sizeof cb);
  cb.release = release;
  cb.height = height;
  cb.commit = commit;
  cb.get_block = get_block;
  return cb;
}

int memory_ledger_watch(const char *channel, size_t channel_len) {
  struct channel *c;
  pthread_mutex_lock(&lock);
  c = find((const uint8_t *)channel, channel_len, 1);
  if (c != NULL) c->watched = 1;
  pthread_mutex_unlock(&lock);
  return c != NULL ? 0 : -1;
}

/*
 * A gossip peer process in plain C over libfabgossip: `peer --config FILE`.
 *
 * Speaks the peer process protocol shared with `python3 -m fabgossip.peer`: JSON lines on
 * stdout (`ready` or `error` first), commands `peers`, `stats`, `shutdown` on stdin (EOF
 * means shutdown). FABGOSSIP_LOG=error|warn|info|debug|trace copies library logs to stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fabgossip.h"

/* Serializes stdout/stderr writes: the log callback runs on library threads. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_log(void *user_data, int32_t level, const char *target, size_t target_len,
                   const char *msg, size_t msg_len) {
  (void)user_data;
  pthread_mutex_lock(&out_lock);
  fprintf(stderr, "[%d] %.*s: %.*s\n", (int)level, (int)target_len, target, (int)msg_len, msg);
  pthread_mutex_unlock(&out_lock);
}

/* Writes one JSON line and flushes, so the driver sees it at once. */
static void emit(const char *line) {
  pthread_mutex_lock(&out_lock);
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&out_lock);
}

/* Writes {"event":"error","message":"<prefix>: <detail>"} with the detail JSON-escaped. */
static void emit_error(const char *prefix, const char *detail, size_t detail_len) {
  size_t cap = strlen(prefix) + detail_len * 6 + 64;
  char *line = malloc(cap);
  size_t n, i;
  if (line == NULL) {
    emit("{\"event\":\"error\",\"message\":\"out of memory\"}");
    return;
  }
  n = (size_t)snprintf(line, cap, "{\"event\":\"error\",\"message\":\"%s: ", prefix);
  for (i = 0; i < detail_len; i++) {
    unsigned char c = (unsigned char)detail[i];
    if (c == '"' || c == '\\') {
      line[n++] = '\\';
      line[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(line + n, cap - n, "\\u%04x", c);
    } else {
      line[n++] = (char)c;
    }
  }
  snprintf(line + n, cap - n, "\"}");
  emit(line);
  free(line);
}

/* Finds `"key":"` in a flat JSON object and returns the raw (still escaped) string value in
 * a new buffer, or NULL. Enough for the library's own JSON, whose values are JSON strings. */
static char *json_string_field(const char *json, const char *key) {
  char pattern[64];
  const char *start, *end;
  char *value;
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  start = strstr(json, pattern);
  if (start == NULL) return NULL;
  start += strlen(pattern);
  for (end = start; *end != '\0' && *end != '"'; end++) {
    if (*end == '\\' && end[1] != '\0') end++;
  }
  value = malloc((size_t)(end - start) + 1);
  if (value == NULL) return NULL;
  memcpy(value, start, (size_t)(end - start));
  value[end - start] = '\0';
  return value;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0, got;
  if (f == NULL) return NULL;
  do {
    if (cap - n < 4096) {
      char *bigger = realloc(buf, cap + 65536);
      if (bigger == NULL) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = bigger;
      cap += 65536;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  fclose(f);
  *len = n;
  return buf;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = 0;
  if (f == NULL) return 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtol(line + 6, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb;
}

static int log_level_from_env(void) {
  const char *v = getenv("FABGOSSIP_LOG");
  if (v == NULL) return FG_LOG_OFF;
  if (strcmp(v, "error") == 0) return FG_LOG_ERROR;
  if (strcmp(v, "warn") == 0) return FG_LOG_WARN;
  if (strcmp(v, "info") == 0) return FG_LOG_INFO;
  if (strcmp(v, "debug") == 0) return FG_LOG_DEBUG;
  if (strcmp(v, "trace") == 0) return FG_LOG_TRACE;
  return FG_LOG_OFF;
}

int main(int argc, char **argv) {
  const char *config_path = NULL;
  char *config, *line = NULL, *pki_id, *endpoint, *org;
  size_t config_len = 0, line_cap = 0;
  fg_bytes err = {NULL, 0}, self = {NULL, 0};
  fg_status st;
  int level, i;
  char out[1024];

  for (i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--config") == 0) config_path = argv[i + 1];
  }
  if (config_path == NULL) {
    emit("{\"event\":\"error\",\"message\":\"usage: peer --config FILE\"}");
    return 1;
  }
  config = read_file(config_path, &config_len);
  if (config == NULL) {
    emit_error("cannot read config", config_path, strlen(config_path));
    return 1;
  }
  level = log_level_from_env();
  if (level != FG_LOG_OFF) fg_set_log_callback(on_log, NULL, level);

  st = fg_init(config, config_len, NULL, &err);
  free(config);
  if (st != FG_STATUS_OK) {
    emit_error(fg_status_str(st), err.ptr != NULL ? (const char *)err.ptr : "", err.len);
    fg_bytes_free(&err);
    return 1;
  }
  st = fg_self(&self);
  if (st != FG_STATUS_OK) {
    emit_error("fg_self", fg_status_str(st), strlen(fg_status_str(st)));
    fg_shutdown();
    return 1;
  }
  pki_id = json_string_field((const char *)self.ptr, "pki_id");
  endpoint = json_string_field((const char *)self.ptr, "endpoint");
  org = json_string_field((const char *)self.ptr, "org");
  snprintf(out, sizeof out, "{\"event\":\"ready\",\"pki_id\":\"%s\",\"endpoint\":\"%s\",\"org\":\"%s\"}",
           pki_id ? pki_id : "", endpoint ? endpoint : "", org ? org : "");
  free(pki_id);
  free(endpoint);
  free(org);
  fg_bytes_free(&self);
  emit(out);

  while (getline(&line, &line_cap, stdin) != -1) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "peers") == 0) {
      fg_bytes peers = {NULL, 0};
      st = fg_peers(&peers);
      if (st == FG_STATUS_OK) {
        size_t cap = peers.len + 64;
        char *msg = malloc(cap);
        if (msg != NULL) {
          snprintf(msg, cap, "{\"event\":\"peers\",\"peers\":%s}", (const char *)peers.ptr);
          emit(msg);
          free(msg);
        }
        fg_bytes_free(&peers);
      } else {
        emit_error("fg_peers", fg_status_str(st), strlen(fg_status_str(st)));
      }
    } else if (strcmp(line, "stats") == 0) {
      struct rusage ru;
      double cpu = 0.0;
      if (getrusage(RUSAGE_SELF, &ru) == 0) {
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
      }
      snprintf(out, sizeof out, "{\"event\":\"stats\",\"rss_kb\":%ld,\"cpu_s\":%.3f}", rss_kb(), cpu);
      emit(out);
    } else if (strcmp(line, "shutdown") == 0) {
      break;
    } else if (line[0] != '\0') {
      emit_error("unknown command", line, strlen(line));
    }
  }
  free(line);
  fg_shutdown();
  emit("{\"event\":\"shutdown\"}");
  return 0;
}

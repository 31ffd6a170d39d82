/*
 * A gossip peer process in plain C over libfabgossip: `peer --config FILE [--ledger
 * file|memory]`.
 *
 * Speaks the peer process protocol shared with `python3 -m fabgossip.peer`: JSON lines on
 * stdout (`ready` or `error` first), commands on stdin (EOF means shutdown): `peers`,
 * `stats`, `metrics`, `shutdown`, `join CH JSON`, `join_block CH HEX` (a config block),
 * `add_block CH SEQ HEX`, `ledger_height CH`,
 * `channel_peers CH`, and with `--ledger memory` (the host ledger callbacks over
 * memory_ledger.c instead of the library's file ledger) `watch CH`: every later commit on CH
 * is reported as {"event":"committed","channel":CH,"seq":N,"t_ns":CLOCK_MONOTONIC ns}.
 * That event comes from inside the ledger's commit callback, so `ledger_height` may still
 * answer the height before it until the library has the callback's result.
 * FABGOSSIP_LOG=error|warn|info|debug|trace copies library logs to stderr.
 *
 * The config file is read by fg_init_from_file (relative paths against its folder, CORE_*
 * environment overrides). Lines may be of any length; a line the peer cannot take is answered
 * with an error line and the peer reads on.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fabgossip.h"
#include "memory_ledger.h"

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

/* Appends `text` JSON-escaped to `out` (room for 6 bytes per input byte); returns the end. */
static char *json_escape(char *out, const char *text, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '"' || c == '\\') {
      *out++ = '\\';
      *out++ = (char)c;
    } else if (c < 0x20) {
      out += sprintf(out, "\\u%04x", c);
    } else {
      *out++ = (char)c;
    }
  }
  *out = '\0';
  return out;
}

/* Writes {<head>"<key>":"<text, escaped>"<tail>}: `head` holds the fields before, `tail`
 * the fields after (each with its leading comma, or empty). */
static void emit_with_string(const char *head, const char *key, const char *text, size_t len,
                             const char *tail) {
  size_t cap = strlen(head) + strlen(key) + strlen(tail) + len * 6 + 16;
  char *line = malloc(cap), *end;
  if (line == NULL) {
    emit("{\"event\":\"error\",\"message\":\"out of memory\"}");
    return;
  }
  end = line + sprintf(line, "{%s\"%s\":\"", head, key);
  end = json_escape(end, text, len);
  sprintf(end, "\"%s}", tail);
  emit(line);
  free(line);
}

/* Writes {"event":"error","message":"<prefix>: <detail>"} with the detail JSON-escaped. */
static void emit_error(const char *prefix, const char *detail, size_t detail_len) {
  size_t cap = strlen(prefix) + detail_len + 3;
  char *message = malloc(cap);
  if (message == NULL) {
    emit("{\"event\":\"error\",\"message\":\"out of memory\"}");
    return;
  }
  snprintf(message, cap, "%s: %.*s", prefix, (int)detail_len, detail);
  emit_with_string("\"event\":\"error\",", "message", message, strlen(message), "");
  free(message);
}

/* emit_error with a NUL-terminated detail. */
static void emit_text_error(const char *prefix, const char *detail) {
  emit_error(prefix, detail, strlen(detail));
}

/* An input line that cannot be taken: `prefix: "<at most 80 bytes of the line>" (N bytes)`,
 * bytes outside printable ASCII shown as '?', so the answer is valid JSON whatever came in. */
static void emit_input_error(const char *prefix, const char *line, size_t len) {
  char echo[160];
  size_t i, n = len < 80 ? len : 80;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)line[i];
    echo[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  snprintf(echo + n, sizeof echo - n, "%s (%zu bytes)", n < len ? "..." : "", len);
  emit_error(prefix, echo, strlen(echo));
}

/* A failed call: its status, and the library's sentence when it gave one. */
static void emit_failure(const char *call, fg_status st, fg_bytes *err) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s: %s", call, fg_status_str(st));
  emit_error(prefix, err->ptr != NULL ? (const char *)err->ptr : "", err->len);
  fg_bytes_free(err);
}

static void on_committed(const char *channel, size_t channel_len, unsigned long long seq,
                         long long t_ns) {
  char tail[96];
  snprintf(tail, sizeof tail, ",\"seq\":%llu,\"t_ns\":%lld", seq, t_ns);
  emit_with_string("\"event\":\"committed\",", "channel", channel, channel_len, tail);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes `hex` into a new buffer of *len bytes; NULL when it is not hex. */
static uint8_t *hex_decode(const char *hex, size_t *len) {
  size_t n = strlen(hex), i;
  uint8_t *out;
  if (n % 2 != 0) return NULL;
  out = malloc(n / 2 + 1);
  if (out == NULL) return NULL;
  for (i = 0; i < n / 2; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(out);
      return NULL;
    }
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *len = n / 2;
  return out;
}

/* Splits "WORD CH REST" in place: returns CH and sets *rest (NULL when absent). */
static char *channel_and_rest(char *args, char **rest) {
  char *space = strchr(args, ' ');
  *rest = NULL;
  if (space != NULL) {
    *space = '\0';
    *rest = space + 1;
  }
  return args;
}

/* Runs a channel command; returns 0 when `line` is none of them. */
static int channel_command(char *line, int memory_ledger) {
  fg_bytes err = {NULL, 0}, out = {NULL, 0};
  fg_status st;
  char *ch, *rest, head[64];
  if (strncmp(line, "join ", 5) == 0) {
    ch = channel_and_rest(line + 5, &rest);
    if (rest == NULL) return 0;
    st = fg_join_channel(ch, strlen(ch), rest, strlen(rest), &err);
    if (st != FG_STATUS_OK) {
      emit_failure("fg_join_channel", st, &err);
      return 1;
    }
    emit_with_string("\"event\":\"joined\",", "channel", ch, strlen(ch), "");
  } else if (strncmp(line, "join_block ", 11) == 0) {
    uint8_t *block;
    size_t len;
    ch = channel_and_rest(line + 11, &rest);
    if (rest == NULL) return 0;
    block = hex_decode(rest, &len);
    if (block == NULL) {
      emit_text_error("join_block", "usage: join_block CHANNEL HEX");
      return 1;
    }
    st = fg_join_channel(ch, strlen(ch), (const char *)block, len, &err);
    free(block);
    if (st != FG_STATUS_OK) {
      emit_failure("fg_join_channel", st, &err);
      return 1;
    }
    emit_with_string("\"event\":\"joined\",", "channel", ch, strlen(ch), "");
  } else if (strncmp(line, "add_block ", 10) == 0) {
    char *seq_text, *hex, *stop;
    unsigned long long seq;
    uint8_t *block;
    size_t len;
    ch = channel_and_rest(line + 10, &rest);
    if (rest == NULL) return 0;
    seq_text = channel_and_rest(rest, &hex);
    seq = strtoull(seq_text, &stop, 10);
    block = hex != NULL && *stop == '\0' ? hex_decode(hex, &len) : NULL;
    if (block == NULL) {
      emit_text_error("add_block", "usage: add_block CHANNEL SEQ HEX");
      return 1;
    }
    st = fg_add_payload(ch, strlen(ch), seq, block, len, &err);
    free(block);
    if (st != FG_STATUS_OK) {
      emit_failure("fg_add_payload", st, &err);
      return 1;
    }
    snprintf(head, sizeof head, ",\"seq\":%llu", seq);
    emit_with_string("\"event\":\"added\",", "channel", ch, strlen(ch), head);
  } else if (strncmp(line, "ledger_height ", 14) == 0) {
    uint64_t h = 0;
    ch = line + 14;
    st = fg_ledger_height(ch, strlen(ch), &h);
    if (st != FG_STATUS_OK) {
      emit_failure("fg_ledger_height", st, &err);
      return 1;
    }
    snprintf(head, sizeof head, ",\"height\":%llu", (unsigned long long)h);
    emit_with_string("\"event\":\"ledger_height\",", "channel", ch, strlen(ch), head);
  } else if (strncmp(line, "channel_peers ", 14) == 0) {
    char *tail;
    ch = line + 14;
    st = fg_peers_of_channel(ch, strlen(ch), &out);
    if (st != FG_STATUS_OK) {
      emit_failure("fg_peers_of_channel", st, &err);
      return 1;
    }
    tail = malloc(out.len + 16);
    if (tail != NULL) {
      sprintf(tail, ",\"peers\":%.*s", (int)out.len, (const char *)out.ptr);
      emit_with_string("\"event\":\"channel_peers\",", "channel", ch, strlen(ch), tail);
      free(tail);
    } else {
      emit_text_error("channel_peers", "out of memory");
    }
    fg_bytes_free(&out);
  } else if (strncmp(line, "watch ", 6) == 0 && memory_ledger) {
    ch = line + 6;
    if (memory_ledger_watch(ch, strlen(ch)) != 0) {
      emit_text_error("watch", "too many channels, or a name of 256 bytes or more");
      return 1;
    }
    emit_with_string("\"event\":\"watching\",", "channel", ch, strlen(ch), "");
  } else {
    return 0;
  }
  return 1;
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
  const char *config_path = NULL, *ledger = "file";
  char *line = NULL, *pki_id, *endpoint, *org;
  size_t line_cap = 0;
  ssize_t line_len;
  fg_bytes err = {NULL, 0}, self = {NULL, 0};
  fg_status st;
  int level, i, memory_ledger;
  char out[1024];

  for (i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--config") == 0) config_path = argv[i + 1];
    if (strcmp(argv[i], "--ledger") == 0) ledger = argv[i + 1];
  }
  memory_ledger = strcmp(ledger, "memory") == 0;
  if (config_path == NULL || (!memory_ledger && strcmp(ledger, "file") != 0)) {
    emit("{\"event\":\"error\",\"message\":\"usage: peer --config FILE [--ledger file|memory]\"}");
    return 1;
  }
  level = log_level_from_env();
  if (level != FG_LOG_OFF) fg_set_log_callback(on_log, NULL, level);

  st = fg_init_from_file(config_path, strlen(config_path), NULL, &err);
  if (st != FG_STATUS_OK) {
    emit_error(fg_status_str(st), err.ptr != NULL ? (const char *)err.ptr : "", err.len);
    fg_bytes_free(&err);
    return 1;
  }
  if (memory_ledger) {
    fg_ledger_callbacks cb = memory_ledger_callbacks(on_committed);
    st = fg_set_ledger_callbacks(&cb);
    if (st != FG_STATUS_OK) {
      emit_text_error("fg_set_ledger_callbacks", fg_status_str(st));
      fg_shutdown();
      return 1;
    }
  }
  st = fg_self(&self);
  if (st != FG_STATUS_OK) {
    emit_text_error("fg_self", fg_status_str(st));
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

  while ((line_len = getline(&line, &line_cap, stdin)) != -1) {
    if (memchr(line, '\0', (size_t)line_len) != NULL) {
      emit_input_error("input line holds a NUL byte", line, (size_t)line_len);
      continue;
    }
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
        emit_text_error("fg_peers", fg_status_str(st));
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
    } else if (strcmp(line, "metrics") == 0) {
      fg_bytes text = {NULL, 0};
      st = fg_metrics(&text);
      if (st == FG_STATUS_OK) {
        emit_with_string("\"event\":\"metrics\",", "text", (const char *)text.ptr, text.len, "");
        fg_bytes_free(&text);
      } else {
        emit_text_error("fg_metrics", fg_status_str(st));
      }
    } else if (strcmp(line, "shutdown") == 0) {
      break;
    } else if (channel_command(line, memory_ledger)) {
      continue;
    } else if (line[0] != '\0') {
      emit_input_error("unknown command", line, strlen(line));
    }
  }
  free(line);
  fg_shutdown();
  emit("{\"event\":\"shutdown\"}");
  return 0;
}

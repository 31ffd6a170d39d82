/*
 * An in-memory ledger for the C peer, behind the library's host ledger callbacks: blocks are
 * copied and kept per channel; commits on watched channels are reported with their
 * CLOCK_MONOTONIC time (the dissemination benchmark's clock).
 */
#ifndef FABGOSSIP_TESTS_MEMORY_LEDGER_H
#define FABGOSSIP_TESTS_MEMORY_LEDGER_H

#include <stddef.h>

#include "fabgossip.h"

/* Called after each commit on a watched channel, under no ledger lock. */
typedef void (*memory_ledger_committed_fn)(const char *channel, size_t channel_len,
                                           unsigned long long seq, long long t_ns);

/* The callback table; `on_commit` may be NULL. Its `release` (run by fg_shutdown) frees
 * every block held. */
fg_ledger_callbacks memory_ledger_callbacks(memory_ledger_committed_fn on_commit);

/* Reports every later commit on `channel`. Returns 0, or -1 when out of memory or channels. */
int memory_ledger_watch(const char *channel, size_t channel_len);

#endif

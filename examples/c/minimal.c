/* A minimal host: start a peer on the built-in defaults, print its view, shut down. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fabgossip.h"

int main(void) {
  const char *config =
      "peer:\n"
      "  localMspId: Org1MSP\n"
      "  listenAddress: 127.0.0.1:0\n"
      "  address: 127.0.0.1:0\n"
      "  fileSystemPath: /tmp/fabgossip-minimal\n"
      "  gossip:\n"
      "    bootstrap: ''\n";
  fg_bytes err = {NULL, 0};
  fg_status st = fg_init(config, strlen(config), NULL, &err);
  if (st != FG_STATUS_OK) {
    fprintf(stderr, "fg_init: %s: %s\n", fg_status_str(st), err.ptr ? (char *)err.ptr : "");
    fg_bytes_free(&err);
    return 1;
  }
  fg_bytes self = {NULL, 0};
  if (fg_self(&self) == FG_STATUS_OK) {
    printf("self: %s\n", (char *)self.ptr);
    fg_bytes_free(&self);
  }
  sleep(1);
  fg_bytes view = {NULL, 0};
  if (fg_peers(&view) == FG_STATUS_OK) {
    printf("peers: %s\n", (char *)view.ptr);
    fg_bytes_free(&view);
  }
  return fg_shutdown() == FG_STATUS_OK ? 0 : 1;
}

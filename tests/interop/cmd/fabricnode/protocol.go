package main

// The shared peer process protocol: JSON lines on stdout, plain-word commands on stdin.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// eventWriter serialises JSON lines; stdout carries nothing else.
type eventWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *eventWriter) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own fixed structs are marshaled; report rather than panic.
		b = []byte(fmt.Sprintf(`{"event":"error","message":%q}`, err.Error()))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(append(b, '\n'))
}

type readyEvent struct {
	Event    string `json:"event"`
	PKIID    string `json:"pki_id"`
	Endpoint string `json:"endpoint"`
	Org      string `json:"org"`
}

type peersEvent struct {
	Event string      `json:"event"`
	Peers []peerEntry `json:"peers"`
}

type statsEvent struct {
	Event string  `json:"event"`
	RSSKB int64   `json:"rss_kb"`
	CPUS  float64 `json:"cpu_s"`
}

type simpleEvent struct {
	Event   string `json:"event"`
	Message string `json:"message,omitempty"`
}

// serveCommands reads stdin until `shutdown` or EOF. Unknown words get an error
// line and the loop goes on.
func serveCommands(in io.Reader, w *eventWriter, tracker *membershipTracker) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "":
		case "peers":
			w.emit(peersEvent{Event: "peers", Peers: tracker.snapshot()})
		case "stats":
			rss, cpu := processStats()
			w.emit(statsEvent{Event: "stats", RSSKB: rss, CPUS: cpu})
		case "shutdown":
			return
		default:
			w.emit(simpleEvent{Event: "error", Message: fmt.Sprintf("unknown command %q", cmd)})
		}
	}
}

// processStats returns resident memory (kB, from /proc) and user+system CPU seconds.
func processStats() (int64, float64) {
	var rss int64 = -1
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
						rss = v
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	cpu := -1.0
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		cpu = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	return rss, cpu
}

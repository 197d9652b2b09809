package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpuTimes is CPU time used so far by Redis, the tidings processes and this
// process (the driver and the receiver), read from /proc.
type cpuTimes struct {
	redis, tidings, bench time.Duration
	busy, all             int64 // machine-wide jiffies, from /proc/stat
}

func (b *bench) cpuNow() cpuTimes {
	c := cpuTimes{redis: procCPU(b.redis.Process.Pid), bench: procCPU(os.Getpid())}
	for _, p := range b.procs {
		c.tidings += procCPU(p.Process.Pid)
	}
	c.busy, c.all = machineCPU()
	return c
}

// since formats the CPU used after c0 per delivery, by process. Processes
// started after c0 count whole.
func (c cpuTimes) since(c0 cpuTimes, deliveries int) string {
	per := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/float64(deliveries), 'f', 0, 64) + " µs"
	}
	return fmt.Sprintf("CPU per item: redis %s, tidings %s, driver+receiver %s; machine %.0f%% busy",
		per(c.redis-c0.redis), per(c.tidings-c0.tidings), per(c.bench-c0.bench), c.busySince(c0))
}

// busySince is the percentage of the machine's CPU time busy after c0.
func (c cpuTimes) busySince(c0 cpuTimes) float64 {
	if c.all <= c0.all {
		return 0
	}
	return float64(c.busy-c0.busy) / float64(c.all-c0.all) * 100
}

// procCPU is a process's user+system CPU time (0 on systems without /proc).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 per second on Linux).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// printCommandStats prints, from INFO commandstats since the last CONFIG
// RESETSTAT, each Redis command's calls and CPU per delivery, busiest first,
// under a title naming the run.
func (b *bench) printCommandStats(title string, deliveries int) {
	info := b.rdb.Info(context.Background(), "commandstats").Val()
	type stat struct {
		name        string
		calls, usec float64
	}
	var stats []stat
	for _, l := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(l, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(l, "cmdstat_") {
			continue
		}
		st := stat{name: name}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				st.calls = n
			case "usec":
				st.usec = n
			}
		}
		stats = append(stats, st)
	}
	slices.SortFunc(stats, func(a, b stat) int { return cmp.Compare(b.usec, a.usec) })
	fmt.Fprintf(os.Stderr, "  %s:\n    %-22s %12s %12s\n", title, "redis command", "calls/dlv", "µs/dlv")
	for _, st := range stats {
		fmt.Fprintf(os.Stderr, "    %-22s %12.2f %12.2f\n", st.name, st.calls/float64(deliveries), st.usec/float64(deliveries))
	}
}

// machineCPU reads the busy and total jiffies of all CPUs from /proc/stat.
func machineCPU() (busy, all int64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		all += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, all
}

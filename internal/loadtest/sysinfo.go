package loadtest

import (
	"bufio"
	"os"
	"strings"
)

// CPUModel names the processor, from /proc/cpuinfo; "unknown" where that
// file is missing or says nothing.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		// x86 says "model name"; arm64 kernels often only "CPU part" or
		// "Hardware", which say too little to be worth printing.
		if ok && strings.TrimSpace(name) == "model name" {
			if v := strings.TrimSpace(value); v != "" {
				return v
			}
		}
	}
	return "unknown"
}

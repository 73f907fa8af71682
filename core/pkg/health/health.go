// Package health is the probe behind every pixie process's `healthcheck`
// subcommand (a container's HEALTHCHECK): a GET of its own /healthz.
package health

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// Timeout bounds the probe.
const Timeout = 2 * time.Second

// Check GETs url and returns nil on 200, else one line saying what failed.
func Check(url string) error {
	client := &http.Client{Timeout: Timeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s returned %s", url, resp.Status)
	}
	return nil
}

// Command is a process's `healthcheck` subcommand: it probes the URL its
// settings give and says why not on stderr, as "<name> healthcheck: …". It
// exits 1 (not 2) on bad settings too: container runtimes treat only 0 and
// 1 as health results.
func Command(name string, url func() (string, error), stderr io.Writer) int {
	u, err := url()
	if err == nil {
		err = Check(u)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s healthcheck: %v\n", name, err)
		return 1
	}
	return 0
}

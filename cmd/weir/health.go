package main

// weir health: GET /health of a running `weir serve` and exit 0 only when
// it answers 200. It is the container image's HEALTHCHECK — a FROM scratch
// image has no shell or curl — so it reads the same WEIR_HTTP_ADDR the
// server binds, and turns a wildcard bind (0.0.0.0, ::) into loopback.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newHealthCmd() *cobra.Command {
	var addr string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the weir serve at --http-addr reports healthy (GET /health is 200)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				addr = os.Getenv("WEIR_HTTP_ADDR")
			}
			if addr == "" {
				addr = "127.0.0.1:8083"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			body, err := checkHealth(ctx, addr)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), body)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "http-addr", "", "HTTP address of the weir serve to ask (default: $WEIR_HTTP_ADDR, else 127.0.0.1:8083)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

func init() { rootCmd.AddCommand(newHealthCmd()) }

// healthURL is the /health URL of a server bound at addr; a wildcard or
// empty host is asked on loopback, where such a bind also listens.
func healthURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}

func checkHealth(ctx context.Context, addr string) (string, error) {
	u, err := healthURL(addr)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("health request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	body := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", u, resp.Status, body)
	}
	return body, nil
}

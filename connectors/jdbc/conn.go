package jdbc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // db.timezone must resolve in a FROM scratch image too

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/weirlog/weir/plugins"
)

// connSettings are the connection.* keys, parsed.
type connSettings struct {
	url      string // pgx form
	user     string
	password string
	attempts int
	backoff  time.Duration
	tz       *time.Location
}

func parseConnSettings(p *plugins.ParsedConfig) (connSettings, error) {
	u, err := pgxURL(p.String(ConnectionURL))
	if err != nil {
		return connSettings{}, err
	}
	loc, err := time.LoadLocation(p.String(DBTimezone))
	if err != nil {
		return connSettings{}, fmt.Errorf("%s: %w", DBTimezone, err)
	}
	return connSettings{url: u, user: p.String(ConnectionUser), password: string(p.Password(ConnectionPassword)),
		attempts: p.Int(ConnectionAttempts), backoff: time.Duration(p.Long(ConnectionBackoff)) * time.Millisecond, tz: loc}, nil
}

// jdbcParams maps pgjdbc URL parameters to libpq ones; pgjdbc parameters
// not listed are dropped (pgx would send them to the server as settings,
// which it rejects).
var jdbcParams = map[string]string{
	"user": "user", "password": "password", "sslmode": "sslmode", "sslcert": "sslcert", "sslkey": "sslkey",
	"sslrootcert": "sslrootcert", "ApplicationName": "application_name", "applicationName": "application_name",
	"connectTimeout": "connect_timeout", "options": "options", "targetServerType": "target_session_attrs",
}

// pgxURL turns a JDBC URL (jdbc:postgresql://host:port/db?…) into the
// postgres:// form pgx parses; libpq URLs and key=value strings pass
// through unchanged.
func pgxURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "jdbc:") {
		return raw, nil
	}
	rest := strings.TrimPrefix(raw, "jdbc:")
	if !strings.HasPrefix(rest, "postgresql:") {
		return "", fmt.Errorf("%s %q: only jdbc:postgresql: URLs are supported", ConnectionURL, raw)
	}
	rest = strings.TrimPrefix(rest, "postgresql:")
	if !strings.HasPrefix(rest, "//") { // jdbc:postgresql:db
		rest = "//localhost/" + rest
	}
	u, err := url.Parse("postgres:" + rest)
	if err != nil {
		return "", fmt.Errorf("%s: %w", ConnectionURL, err)
	}
	q := url.Values{}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch {
		case k == "ssl":
			if v == "true" && u.Query().Get("sslmode") == "" {
				q.Set("sslmode", "require")
			}
		case k == "currentSchema":
			q.Set("search_path", v)
		case jdbcParams[k] != "":
			if k == "targetServerType" {
				v = map[string]string{"primary": "read-write", "master": "read-write", "secondary": "standby", "slave": "standby",
					"preferSecondary": "prefer-standby", "any": "any"}[v]
				if v == "" {
					continue
				}
			}
			q.Set(jdbcParams[k], v)
		default:
			slog.Debug("jdbc: ignoring pgjdbc URL parameter", "param", k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// readBuffer is the size of the buffer a connection reads the socket into.
const readBuffer = 64 << 10

// connect opens one connection, trying connection.attempts times.
func (c connSettings) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(c.url)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", ConnectionURL, err)
	}
	if c.user != "" {
		cfg.User = c.user
	}
	if c.password != "" {
		cfg.Password = c.password
	}
	cfg.RuntimeParams["timezone"] = c.tz.String()
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "weir-jdbc"
	}
	// pgx reads the socket 8 KiB at a time; a scan streaming a big table
	// then spends a read system call per 8 KiB. A bigger buffer under
	// pgx's reader takes what the server has sent in one call.
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBuffer), w)
	}
	var last error
	for i := 0; i < max(c.attempts, 1); i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(c.backoff):
			}
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		last = err
		if !transient(err) {
			break
		}
	}
	return nil, fmt.Errorf("connect to PostgreSQL at %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, last)
}

// transient reports whether err may go away by itself: the connection
// broke, the server is starting or shutting down, or a transaction lost a
// serialization race. Bad SQL, bad data, missing privileges are not.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources
			strings.HasPrefix(pe.Code, "57"),       // operator intervention (shutdown, cancel)
			pe.Code == "40001", pe.Code == "40P01", // serialization failure, deadlock
			pe.Code == "55P03": // lock not available
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Refused or unreachable is transient; a server that answered
		// with an auth or database error came back as a PgError above.
		return true
	}
	return pgconn.SafeToRetry(err) || isNetErr(err)
}

func isNetErr(err error) bool {
	s := err.Error()
	for _, m := range []string{"connection refused", "connection reset", "broken pipe", "EOF", "timeout", "conn closed", "closed network connection", "unexpected EOF", "failed to connect"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// undefinedTable reports a relation that no longer exists.
func undefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000")
}

// retriable wraps transient errors so the runtime retries them.
func retriable(err error) error {
	if transient(err) {
		return &plugins.Retriable{Err: err}
	}
	return err
}

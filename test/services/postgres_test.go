//go:build services

package services_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func pgURL(extra string) string {
	return fmt.Sprintf("postgres://weir:weir@%s/weir?sslmode=disable%s", addr("WEIR_PG_PORT", "5432"), extra)
}

func TestPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, pgURL(""))
	if err != nil {
		hint(t, "postgres", err)
	}
	defer conn.Close(ctx)

	var walLevel string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
		t.Fatal(err)
	}
	if walLevel != "logical" {
		t.Fatalf("wal_level = %q, want logical", walLevel)
	}
	table := "smoke_" + fmt.Sprint(time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id bigserial PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "DROP TABLE "+table)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (v) VALUES ($1), ($2)", "a", "b"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2", n, err)
	}

	// A logical replication connection: IDENTIFY_SYSTEM and a temporary
	// pgoutput slot (dropped by the server when the connection closes).
	rc, err := pgconn.Connect(ctx, pgURL("&replication=database"))
	if err != nil {
		t.Fatalf("replication connection: %v", err)
	}
	defer rc.Close(context.Background())
	sys, err := pglogrepl.IdentifySystem(ctx, rc)
	if err != nil {
		t.Fatalf("IDENTIFY_SYSTEM: %v", err)
	}
	if sys.DBName != "weir" {
		t.Fatalf("IDENTIFY_SYSTEM dbname = %q", sys.DBName)
	}
	slot := "smoke_" + fmt.Sprint(time.Now().UnixNano())
	res, err := pglogrepl.CreateReplicationSlot(ctx, rc, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, Mode: pglogrepl.LogicalReplication})
	if err != nil {
		t.Fatalf("CREATE_REPLICATION_SLOT: %v", err)
	}
	t.Logf("postgres: wal_level=%s systemid=%s slot=%s at %s", walLevel, sys.SystemID, res.SlotName, res.ConsistentPoint)
}

// Package pgtest gives tests a real PostgreSQL database of their own.
//
// The server is named by CONTACTSYNC_TEST_PG_DSN (a postgres:// URL of a
// role that may create databases; .ci/run starts Debian's postgresql and
// exports it). Each call to New creates a fresh database, dropped when the
// test ends, so tests never see each other's tables. Without the variable
// (or when the server does not answer) the test is skipped locally and
// fails under CI=true: CI must not pass by skipping.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvDSN names the variable with the test server's DSN.
const EnvDSN = "CONTACTSYNC_TEST_PG_DSN"

// DB is one test's database.
type DB struct {
	DSN  string        // connection string of the new database
	Pool *pgxpool.Pool // a pool on it, closed at the end of the test
	Name string
}

// New creates an empty database for t and returns it.
func New(t testing.TB) *DB {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %s (.ci/run starts it)", msg)
		}
		t.Skipf("no PostgreSQL: %s", msg)
	}
	if dsn == "" {
		unavailable("%s is not set", EnvDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		unavailable("connect to %s: %v", EnvDSN, err)
	}
	defer admin.Close(context.Background())
	name := fmt.Sprintf("cs_%s_%08x", sanitize(t.Name()), rand.Uint32())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{Name: name, DSN: withDatabase(dsn, name)}
	t.Cleanup(func() {
		if db.Pool != nil {
			db.Pool.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	db.Pool, err = pgxpool.New(ctx, db.DSN)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	return db
}

// Exec runs SQL statements on the test database, failing the test on error.
func (db *DB) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", firstLine(sql), err)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}

// withDatabase replaces the database of a URL or key=value DSN.
func withDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		base, query, _ := strings.Cut(dsn, "?")
		scheme, rest, _ := strings.Cut(base, "://")
		host, _, _ := strings.Cut(rest, "/")
		out := scheme + "://" + host + "/" + name
		if query != "" {
			out += "?" + query
		}
		return out
	}
	return dsn + " dbname=" + name
}
